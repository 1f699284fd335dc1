"""skorch callbacks specific to this library."""

from __future__ import annotations

import copy

from skorch.callbacks import Callback
from tqdm.auto import tqdm

__all__ = ["EarlyStoppingWithCooldown", "EpochProgressBar"]


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


class EarlyStoppingWithCooldown(Callback):
    """Early stopping that anneals before it stops, for models whose scale needs a low LR.

    Watches ``monitor`` (lower is better). After ``patience`` epochs without improvement it
    loads the EMA weights of the best epoch into both the trained module and its EMA, restarts
    the EMA, cools the learning rate down from its current value to the schedule's floor over
    ``cooldown`` epochs (:meth:`~cdm_estimators.net.WarmupCosine.cool_down` of ``schedule``),
    and then stops.

    Why not stop and restore, as skorch's ``EarlyStopping(load_best=True)`` does: a stop often
    comes while the learning rate is still high, and a CDM's overall level (its log Z) only
    settles once the learning rate has decayed.

    Parameters
    ----------
    patience : int
        Epochs without improvement before the cool-down starts.
    cooldown : int
        Epochs of the cool-down.
    schedule : WarmupCosine
        The learning-rate multiplier that the net's ``LRScheduler`` steps once per training
        batch from the start of each fit; this callback counts the same batches and tells it
        when to cool down.
    monitor : str, default="valid_loss"
        History key to minimise.
    """

    def __init__(self, patience, cooldown, schedule, monitor="valid_loss"):
        self.patience = patience
        self.cooldown = cooldown
        self.schedule = schedule
        self.monitor = monitor

    def on_train_begin(self, net, **kwargs):
        self.schedule.reset()  # every fit runs the whole schedule again
        self.best_score_ = float("inf")
        self.best_epoch_ = 0
        self.best_state_ = None
        self.stop_epoch_ = None
        self.n_steps_ = 0
        self.epochs_seen_ = 0

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.n_steps_ += 1

    def on_epoch_end(self, net, **kwargs):
        self.epochs_seen_ += 1
        epoch = len(net.history)
        if self.stop_epoch_ is not None:
            if epoch >= self.stop_epoch_:
                raise KeyboardInterrupt  # how skorch's own EarlyStopping ends a fit
            return
        score = net.history[-1, self.monitor]
        if score < self.best_score_:
            self.best_score_, self.best_epoch_ = score, epoch
            self.best_state_ = copy.deepcopy(net.ema_module_.module.state_dict())
        elif epoch - self.best_epoch_ >= self.patience:
            self._start_cooldown(net, epoch)

    def _start_cooldown(self, net, epoch):
        net.module_.load_state_dict(self.best_state_)
        net.ema_module_.module.load_state_dict(self.best_state_)
        net.ema_module_.n_averaged.zero_()  # the next update copies the restored weights
        steps_per_epoch = self.n_steps_ / max(self.epochs_seen_, 1)
        self.schedule.cool_down(self.n_steps_, round(self.cooldown * steps_per_epoch))
        self.stop_epoch_ = epoch + self.cooldown
        self.best_state_ = None

    def on_train_end(self, net, **kwargs):
        self.best_state_ = None  # no second copy of the weights in the pickle
