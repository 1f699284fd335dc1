"""skorch callbacks specific to this library."""

from __future__ import annotations

from skorch.callbacks import Callback
from tqdm.auto import tqdm

__all__ = ["EpochProgressBar"]


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
