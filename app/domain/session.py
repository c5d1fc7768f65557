"""A training session: engine + data + optimizer + history. No I/O."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from app.engine import chain, datasets, diagnose, gradcheck
from app.engine import features as feature_inputs
from app.engine import stack as stack_kernel
from app.engine import trace as tracing
from app.engine.network import Cache, Network
from app.engine.optimizers import Optimizer
from app.engine.stack import Stack
from app.settings import Settings

from . import claims as article_claims
from . import drawn as drawing
from . import fixes, frames, links, retune
from .errors import InvalidError
from .history import LossHistory
from .limits import check_config_limits
from .presets import resolve
from .protocol import (
    CsvDataset,
    NamedDataset,
    PointsChange,
    SessionConfig,
    SessionConfigIn,
    SessionPatch,
    WeightEdit,
)
from .retune import optimizer_for
from .sampler import BatchSampler
from .timeline import Checkpoint, Timeline

Array = np.ndarray
TROUBLE_EVERY = 10  # steps between two diagnoses (engine/diagnose.py) of a running session


def load_data(
    config: SessionConfig, rng: np.random.Generator, max_samples: int
) -> datasets.Dataset:
    """The config's data set, drawn with the run's generator; InvalidError says what is wrong."""
    try:
        return _load_data(config, rng, max_samples)
    except InvalidError:
        raise
    except ValueError as exc:
        # Everything here is the client's data (rows, CSV text, sizes): the engine's message
        # names the row, column or field, and is meant for a person.
        raise InvalidError(str(exc)) from exc


def _load_data(
    config: SessionConfig, rng: np.random.Generator, max_samples: int
) -> datasets.Dataset:
    """The data set a config names."""
    d = config.dataset
    if isinstance(d, NamedDataset):
        return datasets.named(
            d.name, d.samples, d.noise, d.test_fraction, d.standardize, rng, max_samples
        )
    if isinstance(d, CsvDataset):
        data = datasets.from_csv(d.csv, d.targets, d.test_fraction, d.standardize, rng, max_samples)
    else:
        data = datasets.from_rows(
            d.x, d.y, d.feature_names, d.target_names, d.test_fraction, d.standardize, rng,
            max_samples,
        )  # fmt: skip
    if d.classes:
        datasets.one_hot(data)  # classification from here: its targets are not scaled
    if d.scale_targets:
        datasets.scale_targets(data, config.output_activation)
    return data


def _check_softmax(config: SessionConfig, data: datasets.Dataset) -> None:
    """Softmax goes with cross-entropy (and back), over classes: InvalidError otherwise."""
    softmax, ce = config.output_activation == "softmax", config.loss == "ce"
    if softmax and not ce:
        raise InvalidError('output_activation "softmax" goes with loss "ce" (cross-entropy)')
    if ce and not softmax:
        raise InvalidError('loss "ce" needs output_activation "softmax" (outputs that sum to 1)')
    if softmax and (data.n_outputs < 2 or data.kind != "classification"):
        raise InvalidError(
            "softmax needs a data set with at least 2 classes as one-hot targets "
            f"(blobs3, spiral3); {data.name!r} has {data.n_outputs} output(s)"
        )


class TrainingSession:
    """One run: step(n) and snapshot() give the frame of docs/api.md as plain Python data."""

    def __init__(self, config: SessionConfig, max_samples: int = 1000) -> None:
        self.max_samples = max_samples
        # The stack this run steps in with its forks (domain/together.py), if any.
        self.together: Any = None
        data_seq = np.random.SeedSequence(config.seed).spawn(3)[0]
        self.dataset = load_data(config, np.random.default_rng(data_seq), max_samples)
        # The 2D points as drawn (the data plane's); the network's inputs may be features of them.
        self.points: tuple[Array, Array] | None = None
        if config.features != feature_inputs.DEFAULT:
            self.points = self._features([str(f) for f in config.features])
        # The training set as loaded: drawn points (domain/drawn.py) are appended to it.
        d = self.dataset
        self._base = (d.X, d.Y, None if self.points is None else self.points[0])
        self.drawn: drawing.Drawn = ()
        # Input and output widths come from the data; the config's hidden layers stay.
        layers = [self.dataset.n_inputs, *config.layers[1:-1], self.dataset.n_outputs]
        self.config = config.model_copy(update={"layers": layers})
        self.created = self.config  # as created: a link's config (app/domain/links.py)
        _check_softmax(config, self.dataset)
        if config.batch_size is not None and config.batch_size > self.dataset.X.shape[1]:
            raise InvalidError(
                f"batch_size {config.batch_size} is larger than the "
                f"{self.dataset.X.shape[1]} training samples"
            )
        self._start()

    def _features(self, names: list[str]) -> tuple[Array, Array]:
        """Replace the data's inputs by the features `names` of its (x1, x2); the points."""
        d = self.dataset
        if d.n_inputs != 2:
            raise InvalidError(
                f"features need a 2D data set (x1, x2); {d.name!r} has {d.n_inputs} inputs"
            )
        points = (d.X, d.X_test)
        d.X = feature_inputs.feature_map(d.X, names)
        d.X_test = feature_inputs.feature_map(d.X_test, names)
        d.feature_names = feature_inputs.notation(names)
        return points

    # ---- state ------------------------------------------------------------------------------

    def _start(self) -> None:
        """Step 0: weights, optimizer, batch order and history from the seed alone."""
        c = self.start_config = self.config  # a reset keeps settings changed before it
        self._set_drawn(())  # a reset goes back to the data set's own samples
        _, init_seq, batch_seq = self._children()
        self.net = Network(
            c.layers, c.activation, c.output_activation, c.loss, c.bias, c.init, c.l2,
            np.random.default_rng(init_seq), l1=c.l1,
        )  # fmt: skip
        self.optimizer = optimizer_for(c.optimizer)
        self.sampler = BatchSampler(np.random.default_rng(batch_seq), self.n_train)
        self.step_count = 0
        self.seen = 0  # samples the steps so far trained on: epoch = seen // n_train
        self.stopped: str | None = None  # the stop rule that ended the last advance(), if any
        self.diverged = False
        self.history = LossHistory()
        self.test_loss: float | None = None
        self._trouble_at: int | None = None  # the step the cached diagnosis is of
        self._trouble: list[dict[str, Any]] | None = None
        # Diagnosis memory: step -> (alpha, relative step, its cause) where a step larger than
        # the weights was seen (the next update applied it); the proven fixes of one state.
        self.sightings: dict[int, tuple[float, float, str]] = {}
        self._fixes: tuple[str, list[dict[str, Any]]] | None = None
        self._buffers()
        with np.errstate(all="ignore"):
            self._evaluate()
            self._sight()
        # Seek: checkpoints and the settings log of this run, from step 0 on.
        self.timeline = Timeline()
        self.timeline.add(self._capture())
        self._changes: tuple[int, list[dict[str, Any]]] | None = None  # (log version, compact)
        # (start's settings differ from the created ones, start's settings): computed once.
        self._started: tuple[bool, dict[str, Any]] | None = None
        self._now: tuple[SessionConfig, dict[str, Any]] | None = None  # (config, its settings)

    def _children(self) -> tuple[np.random.SeedSequence, ...]:
        """Fresh, identical child seeds every time, so reset() is bit for bit."""
        return tuple(np.random.SeedSequence(self.config.seed).spawn(3))

    @property
    def n_train(self) -> int:
        """Training samples."""
        return int(self.dataset.X.shape[1])

    @property
    def batch_rng(self) -> np.random.Generator:
        """The run's own generator of batch orders."""
        return self.sampler.rng

    @property
    def _order(self) -> Array:
        """The epoch's batch order (tests compare a seek's sampler with the run's)."""
        return self.sampler.order

    @property
    def _pos(self) -> int:
        """Where the next batch starts in the order."""
        return self.sampler.pos

    def _buffers(self) -> None:
        """Forward buffers for the training set, the test set and a mini-batch, loaded once."""
        net, d = self.net, self.dataset
        self._train_cache = net.forward(d.X)
        self._test_cache = net.forward(d.X_test) if d.X_test.shape[1] else None
        bs = self.config.batch_size
        self._batch_cache = net.new_cache(bs) if bs is not None and bs < self.n_train else None
        self.grads = net.new_grads()
        self._cache = self._train_cache
        self._Y = d.Y
        # The full-batch kernel on this run's own buffers (k = 1), built when first stepped.
        self._alone: Stack | None = None

    def _evaluate(self, record: bool = True, new_batch: bool = True) -> None:
        """Loss at the current weights, and the gradients the next step applies."""
        net = self.net
        net.forward(None, self._train_cache)
        if new_batch:
            self.sampler.draw(self.config.batch_size)
        idx = self.sampler.idx
        if idx is None:
            # Full batch (the article): one pass gives the loss and the gradients.
            self._cache, self._Y = self._train_cache, self.dataset.Y
            self.loss = net.backward(self._cache, self._Y, self.grads).error
        else:
            self.loss = net.error(self._train_cache.A[-1], self.dataset.Y)
            assert self._batch_cache is not None
            np.take(self.dataset.X, idx, axis=1, out=self._batch_cache.A[0])
            self._cache, self._Y = net.forward(None, self._batch_cache), self.dataset.Y[:, idx]
            net.backward(self._cache, self._Y, self.grads)
        if self._test_cache is not None:
            self.test_loss = net.error(
                net.forward(None, self._test_cache).A[-1], self.dataset.Y_test
            )
        if record:
            self.history.record(self.loss, self.test_loss)
        # Summing theta is one call; a sum that overflows means the weights have too.
        if not (math.isfinite(self.loss) and math.isfinite(float(net.theta.sum()))):
            self.diverged = True

    def advance(self, n: int) -> int:
        """Up to n steps without building a frame; stops at divergence. Returns steps done.

        Stepping on from an earlier step (after a seek) starts a new branch: the old future goes.
        A checkpoint is taken at every multiple of the timeline's spacing.
        """
        self._branch()
        self.stopped = None
        done = 0
        while done < n and not self.diverged and self.stopped is None:
            every = self.timeline.every
            chunk = min(n - done, every - self.step_count % every)
            ran = self._run(chunk)
            done += ran
            if ran < chunk:
                break  # diverged, or a stop rule was met
            if self.timeline.due(self.step_count):
                self.timeline.add(self._capture())
        self.timeline.head = self.step_count
        return done

    def _run(self, n: int) -> int:
        """Up to n plain steps (no checkpoints); stops at divergence. Returns steps done."""
        done = 0
        theta, g, update = self.net.theta, self.grads.flat, self.optimizer.update
        with np.errstate(all="ignore"):  # divergence is reported by a field, not a warning
            rules = self.config.stop
            if self._batch_cache is None and self._test_cache is None and rules is None:
                done = self._advance_full_batch(n)
            while done < n and not self.diverged:
                before = self.loss
                update(theta, g)
                self.seen += self._batch_n()
                self.step_count += 1
                done += 1
                self._evaluate()
                if rules is not None:
                    self.stopped = self._stop_rule(before)
                    if self.stopped is not None:
                        break
        self.history.trim()
        return done

    def stack(self) -> Stack | None:
        """The stacked kernel (k = 1) on this run's own buffers, or None where it does not apply.

        Rebuilt whenever the network, the forward buffers or the gradients were replaced.
        """
        st, net = self._alone, self.net
        if st and st.net is net and st.cache is self._train_cache and st.grads is self.grads:
            return st
        if not stack_kernel.supports(net):
            return None
        st = self._alone = Stack.alone(net, self._train_cache, self.grads, self.dataset.Y)
        return st

    def _advance_full_batch(self, n: int) -> int:
        """The article's case, the hot path: one forward and one backward pass per step."""
        st = self.stack()
        if st is None:
            return self._advance_network(n)
        net, grads, opt = self.net, self.grads, self.optimizer
        theta, g = net.theta, grads.flat
        update: Callable[[Array, Array], None] = opt.update
        if type(opt) is Optimizer:  # plain SGD: the same update, its temporaries kept
            update = stack_kernel.sgd_update(opt.learning_rate, theta.size)
        error, record, total = st.error, self.history.train.append, np.add.reduce
        isfinite = math.isfinite
        done = 0
        while done < n and not self.diverged:
            update(theta, g)
            E = error()
            record(E)
            done += 1
            # Summing theta is one call; a sum that overflows means the weights have too.
            if not (isfinite(E) and isfinite(total(theta))):
                self.diverged = True
        self.step_count += done
        self.seen += done * self.n_train
        if done:
            grads.delta = st.deltas(0)
            self.loss = grads.error = E
        return done

    def _advance_network(self, n: int) -> int:
        """The hot path for nets the kernel does not take (softmax, bce, ce, a shared bias)."""
        net, cache, Y, grads = self.net, self._train_cache, self.dataset.Y, self.grads
        theta, g, update = net.theta, grads.flat, self.optimizer.update
        forward, backward, record = net.forward, net.backward, self.history.train.append
        isfinite = math.isfinite
        done = 0
        while done < n and not self.diverged:
            update(theta, g)
            forward(None, cache)
            E = backward(cache, Y, grads).error
            record(E)
            done += 1
            # Summing theta is one call; a sum that overflows means the weights have too.
            if not (isfinite(E) and isfinite(theta.sum())):
                self.diverged = True
        self.step_count += done
        self.seen += done * self.n_train
        if done:
            self.loss = E
        return done

    def _stop_rule(self, before: float) -> str | None:
        """The stop rule this step met, or None. Each fires at the step it becomes true, so
        Play after a stop goes on: E falls below `loss_below` (it was not below before this
        step), the step is `at_step`, or the test loss has just risen `test_rising` steps in
        a row (exactly that many: one more rise is not a new stop)."""
        r = self.config.stop
        assert r is not None
        if r.at_step is not None and self.step_count == r.at_step:
            return "at_step"
        if r.loss_below is not None and self.loss < r.loss_below and not before < r.loss_below:
            return "loss_below"
        k, t = r.test_rising, self.history.test
        if k is not None and len(t) >= k + 1:
            rises = all(t[-1 - i] > t[-2 - i] for i in range(k))
            longer = len(t) >= k + 2 and t[-1 - k] > t[-2 - k]
            if rises and not longer:
                return "test_rising"
        return None

    def _batch_n(self) -> int:
        """Samples the step about to be taken trains on (its batch was drawn already)."""
        idx = self.sampler.idx
        return self.n_train if idx is None else int(idx.size)

    # ---- frames -----------------------------------------------------------------------------

    def frame(
        self,
        since: int | None = None,
        playing: bool = False,
        *,
        arrays: bool = False,
        update: bool = True,
    ) -> dict[str, Any]:
        """The frame (docs/api.md); `losses` are the losses after steps since+1 .. step.

        `arrays`: weights and gradients as arrays (frames.frame); `update`: False leaves the
        optimizer's next update out (`update` null), for a stream none of whose viewers shows it.
        """
        moves = None
        if update and self.optimizer.name != "sgd":
            # The real next step of momentum or Adam, for the page's "next update" view. Not for
            # SGD: it is -learning_rate * gradients, and the article's frame stays under 2 KB.
            with np.errstate(all="ignore"):
                moves = self._next_theta() - self.net.theta
        return frames.frame(
            net=self.net, grads=self.grads, history=self.history, since=since,
            step=self.step_count, loss=self.loss, test_loss=self.test_loss, update=moves,
            diverged=self.diverged, playing=playing, learning_rate=self.optimizer.learning_rate,
            head=self.timeline.head, trouble=frames.findings(self.trouble()),
            settings_log=self.settings_log(), arrays=arrays, epoch=self.epoch,
            accuracy=self.accuracy(), stopped=self.stopped,
        )  # fmt: skip

    def settings_log(self) -> dict[str, Any] | None:
        """The settings the run started from and its changes up to this step (links.py), or None."""
        t, start = self.timeline, self.start_config
        if self._changes is None or self._changes[0] != t.version:
            self._changes = (t.version, links.compact(start, t.log))
        if self._started is None:
            settings = links.settings_of(start)
            self._started = (settings != links.settings_of(self.created), settings)
        changed, settings = self._started
        log = links.settings_log(changed, settings, self._changes[1], self.step_count)
        if log is not None:
            if self._now is None or self._now[0] is not self.config:  # a change or a seek
                self._now = (self.config, links.settings_of(self.config))
            log["now"] = self._now[1]
        return log

    @property
    def epoch(self) -> int:
        """Completed passes over the training samples: samples trained on // training samples."""
        return self.seen // self.n_train

    def accuracy(self) -> tuple[float | None, float | None]:
        """Share of training and test samples classified right (None: regression, no test set).

        The caches hold the outputs at the current weights (every step's evaluation forwards
        the whole training set, and the test set when there is one).
        """
        if self.dataset.kind != "classification":
            return None, None
        d = self.dataset
        train = frames.accuracy(self._train_cache.A[-1], d.Y)
        test = None
        if self._test_cache is not None:
            test = frames.accuracy(self._test_cache.A[-1], d.Y_test)
        return train, test

    def trouble(self) -> list[dict[str, Any]] | None:
        """Why the run may not be learning (engine/diagnose.py), or None; cached per step."""
        at, last = self.step_count, self._trouble_at
        # While playing, once every TROUBLE_EVERY steps is enough (a panel, not a plot); the
        # first steps, where most trouble starts, are each looked at.
        if last is None or (
            at != last and (at < last or at - last >= TROUBLE_EVERY or at <= TROUBLE_EVERY)
        ):
            self._trouble_at = at
            if self.diverged:
                self._trouble = None  # the diverged banner says it
            else:
                o = self.config.optimizer
                found = diagnose.diagnose(
                    self.net, self._train_cache, self.dataset.Y, self.grads, self.loss,
                    self.optimizer.learning_rate, o.name, o.momentum,
                )  # fmt: skip
                self._sight()
                self._trouble = self._remember(found) or None
        return self._trouble

    def _sight(self) -> None:
        """Remember a step larger than the weights about to be taken (diagnosis memory)."""
        if self.diverged:
            return
        o = self.config.optimizer
        with np.errstate(all="ignore"):
            g = float(np.linalg.norm(self.grads.flat))
            lr = self.optimizer.learning_rate
            r = diagnose.relative_step(self.net, g, lr, o.name, o.momentum)
        if r is not None and r > diagnose.HUGE_UPDATE:
            with np.errstate(all="ignore"):
                cause = diagnose.why_large(self.net, self._train_cache, self.dataset.Y)["cause"]
            self.sightings[self.step_count] = (self.optimizer.learning_rate, r, cause)
        else:
            self.sightings.pop(self.step_count, None)

    def _remember(self, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The findings with what the run's trajectory says: a step that broke it, named."""
        stuck = {"output_saturated", "hidden_saturated", "vanishing_gradients"}
        losses = np.frombuffer(self.history.train, dtype=float)
        memo = diagnose.step_too_large(
            losses, self.history.start, self.step_count, self.sightings,
            any(t["kind"] in stuck for t in found),
        )  # fmt: skip
        if memo is None:
            return found
        if memo["learning_rate"] is None:
            memo["learning_rate"] = self.config_at(memo["jump_step"] - 1).optimizer.learning_rate
        memo["learning_rate_now"] = self.optimizer.learning_rate
        for t in found:
            if t["kind"] in stuck:
                t["consequence_of"] = "step_too_large"  # the saturation is what the step did
        return [memo, *found]

    def config_at(self, step: int) -> SessionConfig:
        """The settings in force for the update after `step` (the timeline's log replayed)."""
        if step >= self.step_count:
            return self.config
        ck = self.timeline.nearest(max(step, 0))
        config: SessionConfig = ck.config
        for at, p in self.timeline.log[ck.log_len :]:
            if at > step:
                break
            if isinstance(p, SessionPatch):  # edits and drawn points change no setting
                config = retune.patched(config, p, links.ANY_SIZE)
        return config

    def fixes_key(self) -> str:
        """What the proven fixes depend on: the step, the settings and the findings' kinds."""
        kinds = [t["kind"] for t in self.trouble() or []]
        return f"{self.step_count}|{len(self.timeline.log)}|{self.config.model_dump_json()}|{kinds}"

    def cached_fixes(self) -> list[dict[str, Any]] | None:
        """The proven fixes of this very state, if tried already."""
        return self._fixes[1] if self._fixes and self._fixes[0] == self.fixes_key() else None

    def prove_fixes(self) -> list[dict[str, Any]]:
        """Findings with fixes tried on copies (slow: run it on a clone(), in a thread)."""
        with np.errstate(all="ignore"):
            return fixes.prove(self)

    def keep_fixes(self, key: str, found: list[dict[str, Any]]) -> None:
        """Cache proven fixes for the state `key` names (computed on a clone)."""
        self._fixes = (key, found)

    def fix_trials(self) -> int:
        """How many trials prove_fixes() would run now (for its cost)."""
        return 0 if self.cached_fixes() is not None else fixes.trial_count(self)

    def step(self, n: int = 1) -> dict[str, Any]:
        """n steps, then a frame holding every step's loss."""
        before = self.step_count
        self.advance(n)
        return self.frame(since=before)

    def snapshot(self) -> dict[str, Any]:
        """The current frame, with only the current loss in `losses`."""
        return self.frame()

    def reset(self) -> dict[str, Any]:
        """Back to step 0 with the same seed, bit for bit."""
        self._start()
        return self.frame(since=-1)

    def patch(self, p: SessionPatch) -> dict[str, Any]:
        """Change optimizer, batch size, L2 or L1; weights and step are kept.

        The change is logged at this step and checkpointed, so seeks replay it; from an earlier
        step (after a seek) it starts a new branch.
        """
        retune.check_patch(p, self.n_train)
        self._branch()
        self._apply_patch(p)
        self.timeline.record(self.step_count, p)
        self.timeline.add(self._capture())
        return self.frame()

    def _apply_patch(self, p: SessionPatch) -> None:
        """The settings change itself (also replayed by seek)."""
        self.config = retune.patched(self.config, p, self.n_train)
        if p.optimizer is not None:
            self.optimizer = retune.retune(self.optimizer, self.config.optimizer)
        self.net.l2, self.net.l1 = self.config.l2, self.config.l1
        self._trouble_at = None  # the rate, batch or L2 changed: diagnose again
        if retune.changes_batch(p):
            self.sampler.restart()
            self._buffers()
        # Gradients depend on l2 and the batch: recompute them at the same weights, and let
        # the recorded loss follow (l2 changes E) without adding a step to the history.
        with np.errstate(all="ignore"):
            self._evaluate(record=False)
        self.history.amend(self.loss, self.test_loss)
        self._sight()  # a new rate: is the next step now larger than the weights?

    def _apply(self, change: SessionPatch | WeightEdit | PointsChange) -> None:
        """One logged change, as it was applied (seek and walk replay them with this)."""
        if isinstance(change, WeightEdit):
            self._apply_edit(change)
        elif isinstance(change, PointsChange):
            self._apply_points(change)
        else:
            self._apply_patch(change)

    # ---- edits and drawn points (issue 22, items 7 and 8) ------------------------------------

    def edit(self, e: WeightEdit) -> dict[str, Any]:
        """Set one weight or bias by hand; logged at this step like a settings change.

        From an earlier step (after a seek) it starts a new branch. Editing the same parameter
        again at the same step replaces the logged edit (the weights then are the same).
        """
        self.check_parameter(e.kind, e.layer, e.i, e.j)
        self._branch()
        log = self.timeline.log
        last = log[-1] if log else None
        self._apply_edit(e)
        if (
            last is not None
            and last[0] == self.step_count
            and isinstance(last[1], WeightEdit)
            and (last[1].kind, last[1].layer, last[1].i, last[1].j) == (e.kind, e.layer, e.i, e.j)
        ):
            self.timeline.replace_last(e)  # an edit sets a value: the last one is what counts
        else:
            self.timeline.record(self.step_count, e)
        self.timeline.add(self._capture())
        return self.frame()

    def _apply_edit(self, e: WeightEdit) -> None:
        """The edit itself: the parameter set, loss and gradients at the same batch recomputed."""
        if e.kind == "weight":
            assert e.i is not None
            self.net.W[e.layer][e.i, e.j] = e.value  # a view of theta
        else:
            # A shared bias is one number per layer: every j names it.
            self.net.b[e.layer][0 if self.net.bias_mode == "shared" else e.j] = e.value
        self._trouble_at = None
        with np.errstate(all="ignore"):
            self._evaluate(record=False, new_batch=False)
        self.history.amend(self.loss, self.test_loss)
        self._sight()

    def draw(self, change: PointsChange) -> dict[str, Any]:
        """Add, undo or clear the learner's own points; logged at this step, then a frame.

        The run goes on from its weights on the new training set. Points added at the same step
        as the last logged change, when that is an add, join it; an undo right after it takes
        its last point back out of it (the run is then exactly as if that point was not drawn).
        """
        drawing.check(change, self.drawn, self.dataset, self._plane())
        self._branch()
        log = self.timeline.log
        last = log[-1] if log else None
        joins = (
            last is not None
            and last[0] == self.step_count
            and isinstance(last[1], PointsChange)
            and last[1].op == "add"
            and change.op in ("add", "undo")
        )
        self._apply_points(change)
        if joins:
            assert last is not None
            merged = _merged(last[1], change)
            if merged is None:
                self.timeline.drop_last()  # its only point undone: as if never drawn
            else:
                self.timeline.replace_last(merged)
        else:
            self.timeline.record(self.step_count, change)
        self.timeline.add(self._capture())
        return self.frame()

    def _apply_points(self, change: PointsChange) -> None:
        """The drawn points changed: the training set, its buffers, the sampler, E and dE."""
        self._set_drawn(drawing.after(self.drawn, change))
        s = self.sampler
        s.n = self.n_train
        # An epoch order that names a removed sample starts over (the generator draws the next
        # one); added samples join at the next epoch's shuffle, and the drawn batch stays.
        new_batch = bool(s.order.size) and int(s.order.max()) >= s.n
        if new_batch:
            s.restart()
        self._buffers()
        self._trouble_at = None
        with np.errstate(all="ignore"):
            self._evaluate(record=False, new_batch=new_batch)
        self.history.amend(self.loss, self.test_loss)
        self._sight()

    def _plane(self) -> bool:
        """The data are points of a plane: two inputs, or feature inputs of two."""
        return self.points is not None or self._base[0].shape[0] == 2

    def _set_drawn(self, drawn: drawing.Drawn) -> None:
        """The training set: the data set's own samples, then the drawn points (no buffers)."""
        X0, Y0, P0 = self._base
        d = self.dataset
        if drawn:
            xy, Y = drawing.columns(drawn, d.n_outputs)
            features = None if P0 is None else [str(f) for f in self.config.features]
            d.X = np.hstack([X0, drawing.inputs(xy, features)])
            d.Y = np.hstack([Y0, Y])
        else:
            d.X, d.Y = X0, Y0
        if self.points is not None and P0 is not None:
            self.points = (np.hstack([P0, xy]) if drawn else P0, self.points[1])
        self.drawn = drawn

    # ---- time travel ------------------------------------------------------------------------

    @property
    def head(self) -> int:
        """The furthest step this branch of the run has computed."""
        return self.timeline.head

    def _capture(self) -> Checkpoint:
        """The full state at this step: weights, optimizer, settings, batch sampler."""
        return Checkpoint(
            step=self.step_count,
            log_len=len(self.timeline.log),
            theta=self.net.theta.copy(),
            optimizer=self.optimizer.clone(),
            config=self.config,
            rng_state=self.sampler.rng_state(),
            order=self.sampler.order,
            pos=self.sampler.pos,
            idx=self.sampler.idx,
            diverged=self.diverged,
            seen=self.seen,
            drawn=self.drawn,
        )

    def _restore(self, ck: Checkpoint) -> None:
        """Back to a checkpoint's state; loss and gradients recomputed (bit for bit the same)."""
        rebuffer = ck.config.batch_size != self.config.batch_size
        if ck.drawn != self.drawn:
            self._set_drawn(ck.drawn)  # another training set: new buffers
            self.sampler.n = self.n_train
            rebuffer = True
        self.config = ck.config
        self.net.l2, self.net.l1 = ck.config.l2, ck.config.l1
        self.net.theta[...] = ck.theta  # in place: the forward plans hold views of theta
        self.optimizer = ck.optimizer.clone()
        self.sampler.restore(ck.rng_state, ck.order, ck.pos, ck.idx)
        self.step_count = ck.step
        self.seen = ck.seen
        self.stopped = None
        self.diverged = ck.diverged
        if rebuffer:
            self._buffers()
        self._evaluate(record=False, new_batch=False)

    def seek(self, n: int) -> dict[str, Any]:
        """The frame at step n (0 <= n <= head) as the run first had it; `seeked` is true.

        Restores the nearest checkpoint at or before n and replays the steps (and logged
        settings changes) after it. The loss history up to the head is kept: stepping on from
        n is what drops the old future (a new branch).
        """
        self.check_seek(n)
        self._replay(n)
        return self._seek_frame()

    def replay_steps(self, n: int) -> int:
        """Steps a seek to n replays (from the nearest checkpoint): its cost, in steps."""
        return n - self.timeline.nearest(n).step

    def replayed(self, n: int) -> Checkpoint:
        """Replay to step n and capture the state: run it on a clone() in a worker thread."""
        self.check_seek(n)
        self._replay(n)
        return self._capture()

    def adopt(self, ck: Checkpoint) -> dict[str, Any]:
        """Take a state replayed elsewhere (replayed()) as this run's; the seek frame."""
        self.check_seek(ck.step)
        with np.errstate(all="ignore"):
            self._restore(ck)
        return self._seek_frame()

    def _seek_frame(self) -> dict[str, Any]:
        return {**self.frame(since=-1), "seeked": True}

    def _replay(self, n: int) -> None:
        """Restore the nearest checkpoint at or before n, then replay steps and settings to n."""
        ck = self.timeline.nearest(n)
        kept = self.history
        # Replayed steps record into scratch: the history already holds their losses.
        self.history = LossHistory()
        try:
            with np.errstate(all="ignore"):
                self._restore(ck)
                for step, p in self.timeline.log[ck.log_len :]:
                    if step > n:
                        break
                    self._replay_steps(step - self.step_count)
                    self._apply(p)
                self._replay_steps(n - self.step_count)
                # Loss, test loss and the divergence flag at n, as the run computed them.
                self._evaluate(record=False, new_batch=False)
        finally:
            self.history = kept

    def _replay_steps(self, n: int) -> None:
        """n steps computing only what the next step needs: the batch's gradients.

        The same operations on the same buffers as advance(), so the weights, optimizer state
        and batch order are bit for bit the run's; the losses on the way (already in the
        history) are skipped, which makes a replay several times cheaper than the steps were.
        """
        net, grads = self.net, self.grads
        theta, g, update = net.theta, grads.flat, self.optimizer.update
        forward, backward = net.forward, net.backward
        batch, draw, bs = self._batch_cache, self.sampler.draw, self.config.batch_size
        if batch is None:
            cache, Y = self._train_cache, self.dataset.Y
            for _ in range(n):
                update(theta, g)
                backward(forward(None, cache), Y, grads)
            self.seen += n * self.n_train
        else:
            X, Y_all = self.dataset.X, self.dataset.Y
            for _ in range(n):
                update(theta, g)
                idx = draw(bs)
                assert idx is not None
                np.take(X, idx, axis=1, out=batch.A[0])
                backward(forward(None, batch), Y_all[:, idx], grads)
            self.seen += n * batch.A[0].shape[1]
        self.step_count += n

    def check_seek(self, n: int) -> None:
        """InvalidError with a clear message unless first <= n <= head (first is 0 but after a
        restart, whose earlier steps are not kept)."""
        head, first = self.timeline.head, self.timeline.checkpoints[0].step
        if isinstance(n, bool) or not isinstance(n, int) or not first <= n <= head:
            raise InvalidError(
                f"step: {n!r} is outside this run; seek to a step from {first} to the head, {head}"
            )

    def _branch(self) -> None:
        """About to change the run at a step before the head: drop the old future."""
        n = self.step_count
        if n >= self.timeline.head:
            return
        self.timeline.truncate(n)
        self.history.branch(n, self.loss, self.test_loss)
        self.sightings = {s: v for s, v in self.sightings.items() if s <= n}

    # ---- explanations -----------------------------------------------------------------------

    def chain(self, kind: str, layer: int, i: int | None, j: int) -> dict[str, Any]:
        """The chain rule for one weight or bias, on the batch the next step uses."""
        self.check_parameter(kind, layer, i, j)
        # A diverged run's products overflow: that is reported (as null), not warned about.
        with np.errstate(all="ignore"):
            c = chain.breakdown(
                self.net, self._cache, self._Y, self.grads, kind, layer, i, j,
                self.optimizer.learning_rate, self._next_theta(),
            )  # fmt: skip
            # The step it describes: the page labels the panel with it, as the slope's note.
            return {**c, "step": self.step_count}

    def check_parameter(self, kind: str, layer: int, i: int | None, j: int) -> None:
        """InvalidError unless (kind, layer, i, j) names a weight or bias of this network."""
        L = self.net.n_layers
        if not 0 <= layer < L:
            raise InvalidError(f"layer must be between 0 and {L - 1}")
        n_in, n_out = self.net.W[layer].shape
        if kind == "weight":
            if i is None or not 0 <= i < n_in:
                raise InvalidError(f"i must be between 0 and {n_in - 1} for layer {layer}")
        elif kind != "bias":
            raise InvalidError("kind must be 'weight' or 'bias'")
        if not 0 <= j < n_out:
            raise InvalidError(f"j must be between 0 and {n_out - 1} for layer {layer}")

    def _next_theta(self) -> Array:
        """The parameters after the next step: the optimizer's real update, previewed."""
        return self.optimizer.preview(self.net.theta, self.grads.flat)

    def batch(self) -> list[int]:
        """Sample indices the next step trains on (drawn already: looking does not advance)."""
        return self.sampler.indices()

    def trace(self) -> dict[str, Any]:
        """The next step phase by phase (forward, error, backward, update), JSON-ready."""
        with np.errstate(all="ignore"):
            t = tracing.trace(
                self.net, self._cache, self._Y, self.grads, self.optimizer,
                np.asarray(self.batch()), self.step_count,
            )  # fmt: skip
            return {**frames.plain(t), "head": self.timeline.head}

    def slice(self, kind: str, layer: int, i: int | None, j: int) -> dict[str, Any]:
        """E against one parameter around its value, on the next step's batch (InvalidError)."""
        self.check_parameter(kind, layer, i, j)
        with np.errstate(all="ignore"):
            view = tracing.slice_view(
                self.net, self._cache.A[0].copy(), self._Y, self.grads, self.optimizer,
                kind, layer, i, j,
            )  # fmt: skip
            return {**frames.plain(view), "step": self.step_count}

    def matrix(self) -> list[dict[str, Any]]:
        """dE/dW = A . delta^T per layer with shapes."""
        with np.errstate(all="ignore"):
            return chain.matrix_form(self.net, self._cache, self.grads)

    def gradcheck(self) -> dict[str, Any]:
        """Analytic vs central-difference gradients on the next step's batch."""
        with np.errstate(all="ignore"):
            return gradcheck.check(self.net, self._cache.A[0].copy(), self._Y)

    def claims(self) -> dict[str, Any]:
        """The article's closing claims measured on this run (domain/claims.py): on a clone()."""
        return article_claims.measure(self)

    def walk(self, start: int, steps: int) -> Iterator[tuple[int, Array]]:
        """Replay this run from `start` (on a clone()), yielding (step, O on the training set)
        there and after each of the next `steps` steps; past the head it goes on with the
        settings in force, as Step would. The same operations as seek, so the same numbers."""
        with np.errstate(all="ignore"):
            self._replay(start)
            log = self.timeline.log
            k = next((n for n, (s, _) in enumerate(log) if s > start), len(log))
            yield start, self._train_outputs()
            for _ in range(steps):
                self._replay_steps(1)
                while k < len(log) and log[k][0] == self.step_count:
                    self._apply(log[k][1])  # a setting changed at this step, as it was
                    k += 1
                yield self.step_count, self._train_outputs()

    def visit(self, steps: list[int]) -> Iterator[tuple[int, Array, float]]:
        """(step, theta, E) at each of `steps` (ascending), the run moved there bit for bit.

        Run it on a clone(): the session ends at the last step. Between two steps it goes on from
        where it is (one replayed step each), or restores a checkpoint when one lies in between:
        never more replay than the seek to each step would do alone, usually far less.
        """
        entered = False
        for n in steps:
            self.check_seek(n)
            here = self.step_count
            if not entered or n < here or self.timeline.nearest(n).step > here:
                self._replay(n)  # restore the nearest checkpoint, replay steps and settings
                entered = True
            else:
                kept, self.history = self.history, LossHistory()  # as _replay: no amends
                try:
                    with np.errstate(all="ignore"):
                        # On from `here`: the settings logged after it (those at `here` are in
                        # force already).
                        for at, change in self.timeline.log:
                            if here < at <= n:
                                self._replay_steps(at - self.step_count)
                                self._apply(change)
                        self._replay_steps(n - self.step_count)
                        self._evaluate(record=False, new_batch=False)
                finally:
                    self.history = kept
            yield n, self.net.theta.copy(), float(self.loss)

    def _train_outputs(self) -> Array:
        """O on the whole training set at the current weights."""
        if self._batch_cache is None:
            return self._train_cache.A[-1]  # the full batch's forward pass has just run
        return self.net.forward(None, self._train_cache).A[-1]

    def export(self) -> dict[str, Any]:
        """Config, loss history and weights, for download (up to this step, not the head)."""
        return {
            "config": self.config.model_dump(mode="json"),
            "step": self.step_count,
            "diverged": self.diverged,
            # Steps before the history's start are thinned (every stride-th step).
            "history": frames.curve(self.history, self.step_count),
            **frames.parameters(self.net),
        }

    def data(self) -> dict[str, Any]:
        """The data set for the page, rows as samples."""
        d, c = self.dataset, self.config
        return {
            "name": d.name,
            "kind": d.kind,
            "feature_names": d.feature_names,
            "target_names": d.target_names,
            "x": d.X.T.tolist(),
            "y": d.Y.T.tolist(),
            "x_test": d.X_test.T.tolist(),
            "y_test": d.Y_test.T.tolist(),
            "layers": c.layers,
            "activation": c.activation,
            "output_activation": c.output_activation,
            "loss": c.loss,
            "bias": c.bias,
            "target_scale": d.target_scale,
            "targets_scaled": d.targets_scaled,
            "input_scale": d.input_scale,
            "features": c.features,
            # The learner's drawn points in force: the last len(drawn x) training samples.
            "drawn": drawing.as_change(self.drawn),
            # With feature inputs, `x` holds the network's inputs; `points` the (x1, x2) drawn.
            **(
                {"points": self.points[0].T.tolist(), "points_test": self.points[1].T.tolist()}
                if self.points is not None
                else {}
            ),
        }

    def clone(self) -> TrainingSession:
        """An independent copy at the same state (a fork), with its own copy of the timeline."""
        timeline, self.timeline = self.timeline, Timeline()
        together, self.together = self.together, None  # the fork starts outside any stack
        try:
            new = copy.deepcopy(self)
        finally:
            self.timeline, self.together = timeline, together
        new.timeline = timeline.copy()  # checkpoints are immutable: shared, not copied
        # Buffers are views of the network's theta: rebuild them on the copy's own theta.
        new._buffers()
        with np.errstate(all="ignore"):
            new._evaluate(record=False, new_batch=False)
        return new

    # ---- snapshots (issue 12: state that outlives a process) --------------------------------

    def state(self) -> dict[str, Any]:
        """Everything needed to carry on bit for bit: JSON-able values and array copies."""
        opt = self.optimizer
        return {
            "config": self.config.model_dump(mode="json"),
            "step_count": self.step_count,
            "seen": self.seen,
            "diverged": self.diverged,
            "optimizer": {
                "t": getattr(opt, "t", None),
                "learning_rate": opt.learning_rate,
                **{
                    k: getattr(opt, k)
                    for k in ("momentum", "beta1", "beta2", "eps")
                    if hasattr(opt, k)
                },
            },
            "theta": self.net.theta.copy(),
            "opt_m": _copy_or_empty(getattr(opt, "m", None)),
            "opt_v": _copy_or_empty(getattr(opt, "v", None)),
            # The diagnosis memory: where a step larger than the weights was seen.
            "sightings": [[s, lr, r, cause] for s, (lr, r, cause) in self.sightings.items()],
            **self.sampler.state(),  # generator, epoch order, position, drawn batch
            **self.history.state(),  # dense losses and the thinned archive
            # A link made after a restart still replays the whole run (links.py).
            # (The settings alone: the rest of a config, a CSV's text too, never changes.)
            "created_settings": links.settings_of(self.created),
            "start_settings": links.settings_of(self.start_config),
            "settings_changes": [
                [step, p.model_dump(mode="json", exclude_unset=True), _KINDS[type(p)]]
                for step, p in self.timeline.log
            ],
            "drawn": [list(p) for p in self.drawn],  # the points drawn now (domain/drawn.py)
        }

    @classmethod
    def restore(cls, state: dict[str, Any], max_samples: int = 1000) -> TrainingSession:
        """The session state() described, rebuilt from its seed and then overwritten."""
        config = SessionConfig.model_validate(state["config"])
        new = cls(config, max_samples=max_samples)
        theta = np.asarray(state["theta"], dtype=float)
        if theta.shape != new.net.theta.shape:
            raise InvalidError("snapshot weights do not fit the configured network")
        new.net.theta[...] = theta  # in place: W and b are views of theta
        opt, saved = new.optimizer, state["optimizer"]
        for key, value in saved.items():
            if key != "t" and hasattr(opt, key):
                setattr(opt, key, float(value))
        if saved.get("t") is not None and hasattr(opt, "t"):
            opt.t = int(saved["t"])
        for key in ("m", "v"):
            if hasattr(opt, key) and state[f"opt_{key}"].size:
                setattr(opt, key, np.array(state[f"opt_{key}"], dtype=float))
        drawn = tuple((float(a), float(b), int(c)) for a, b, c in state.get("drawn", []))
        if drawn:
            new._set_drawn(drawn)
            new._buffers()
        new.sampler.load(state)
        new.sampler.n = new.n_train
        new.step_count = int(state["step_count"])
        # Snapshots from before epochs were counted: as many samples as full-batch steps.
        new.seen = int(state.get("seen", new.step_count * new.n_train))
        new.history = LossHistory.from_state(state)
        # Loss, test loss and gradients at the restored weights, on the restored batch.
        with np.errstate(all="ignore"):
            new._evaluate(record=False, new_batch=False)
        new.diverged = bool(state["diverged"])
        new.sightings = {  # older snapshots have none
            int(s): (float(lr), float(r), str(cause))
            for s, lr, r, cause in state.get("sightings", [])
            if int(s) <= new.step_count
        }
        # The timeline starts again here: the steps before a restart cannot be revisited
        # (their checkpoints stayed in the old process), the ones after it can.
        new.timeline = Timeline()
        if "created_settings" in state:  # snapshots from before version 3 have no settings log
            new.created = links.with_settings(config, state["created_settings"])
            new.start_config = links.with_settings(config, state["start_settings"])
            for step, p, *kind in state["settings_changes"]:  # no kind: a settings change
                model = _MODELS[kind[0] if kind else "set"]
                new.timeline.record(int(step), model.model_validate(p))
        new._changes = new._started = None
        new.timeline.add(new._capture())  # after the log: a seek replays no change before it
        new.timeline.head = new.step_count
        return new


# A snapshot's log entries name their kind: the link's name of each change.
_KINDS: dict[type, str] = {SessionPatch: "set", WeightEdit: "edit", PointsChange: "points"}
_MODELS: dict[str, type[SessionPatch] | type[WeightEdit] | type[PointsChange]] = {
    v: k for k, v in _KINDS.items()
}


def _merged(last: PointsChange, change: PointsChange) -> PointsChange | None:
    """An add logged at this step with `change` (an add or an undo) folded in; None if empty."""
    assert last.x is not None and last.y is not None
    if change.op == "add":
        assert change.x is not None and change.y is not None
        x, y = [*last.x, *change.x], [*last.y, *change.y]
    else:
        x, y = last.x[:-1], last.y[:-1]
    return PointsChange(op="add", x=x, y=y) if x else None


def _copy_or_empty(a: Array | None) -> Array:
    """A copy of an optional array; an empty one for None (arrays travel as arrays)."""
    return np.zeros(0) if a is None else a.copy()


__all__ = ["Cache", "TrainingSession", "new_session"]


def new_session(config: SessionConfigIn, settings: Settings) -> TrainingSession:
    """Resolve a client's config, check the server's limits, build the session (InvalidError)."""
    resolved = resolve(config)
    check_config_limits(resolved, settings)
    session = TrainingSession(resolved, max_samples=settings.max_samples)
    # The data set fixes the input and output widths: check them as well.
    check_config_limits(session.config, settings)
    return session
