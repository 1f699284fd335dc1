"""skorch callbacks specific to this library."""

from __future__ import annotations

import copy

from skorch.callbacks import Callback
from tqdm.auto import tqdm

__all__ = ["BestEMAWeights", "EpochProgressBar"]


class EpochProgressBar(Callback):
    """One tqdm bar over all epochs of a fit, showing the latest losses.

    skorch's own ``ProgressBar`` draws one bar per epoch, which is unreadable when a fit runs
    hundreds of short epochs, as density estimation on small tables does.

    Parameters
    ----------
    total : int or None
        Number of epochs the fit will run (``max_epochs``).
    desc : str, default="fit"
        Label shown before the bar.
    """

    def __init__(self, total=None, desc="fit"):
        self.total = total
        self.desc = desc

    def on_train_begin(self, net, **kwargs):
        self.bar_ = tqdm(total=self.total, desc=self.desc, unit="epoch", leave=True)

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        shown = {k: f"{row[k]:.4f}" for k in ("train_loss", "valid_loss") if k in row}
        self.bar_.set_postfix(shown, refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("bar_", None)
        return state


class BestEMAWeights(Callback):
    """Keep the EMA weights of the epoch with the best ``monitor`` and restore them at the end.

    skorch's ``EarlyStopping(load_best=True)`` restores ``module_`` only; scoring and sampling
    use ``ema_module_``, so this callback restores that one.

    Parameters
    ----------
    monitor : str, default="valid_nll"
        History key whose ``<monitor>_best`` flag marks an improvement.
    """

    def __init__(self, monitor="valid_nll"):
        self.monitor = monitor

    def on_train_begin(self, net, **kwargs):
        self.best_state_ = None
        self.best_epoch_ = None

    def on_epoch_end(self, net, **kwargs):
        if net.history[-1].get(f"{self.monitor}_best"):
            self.best_state_ = copy.deepcopy(net.ema_module_.state_dict())
            self.best_epoch_ = net.history[-1, "epoch"]

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.ema_module_.load_state_dict(self.best_state_)
        self.best_state_ = None  # do not keep a second copy of the weights in the pickle
