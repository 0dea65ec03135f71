"""Grounding probe: can hardness be heard and mass be felt, on objects never babbled with?

For every object of the training catalogue and of a held-out catalogue (another seed, and the
held-out materials of nsca.envs.objects, which babbling never uses), the probe runs a few fixed interactions: strikes (recorded with
synthesised impact audio), lifts and shakes. Features:

- hearing: `audio.audio_features` of each strike (loudness-free spectrum shares, centroid,
  decay), averaged over the strikes;
- feeling: from lift/shake dynamics: how far the object rose relative to the hand, whether it
  stayed in hand, how much it slid in the grip while shaken, and how far the hand sags below
  its target while holding still (the weight it carries; the hand is softly welded to its target).

A multinomial logistic regression (numpy, L2) is fitted on the training objects and tested on
the held-out ones: hardness class (soft/medium/hard) from hearing, mass class
(light/medium/heavy) from feeling. Accuracy is reported beside chance (1/3) and the majority
class share of the held-out objects.

This probe reads hand-made features, no learned model. `nsca eval grounding`
(nsca.evaluation.grounding) is the probe of the trained model: it trains on the babbling store,
tests on the same kind of held-out catalogue and uses these features as its hand-made baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from nsca.babbling.audio import audio_features
from nsca.babbling.interaction import InteractionSpec
from nsca.envs.objects import ObjectSpec
from nsca.priors import state as S

# (primitive, spawn, params, repeats): moderate fixed settings; only the spawn is random.
PROBE_PLAN = (
    ("strike", "strike", (0.6, 0.45, 0.5), 3),
    ("lift", "strike", (0.2, 1.0, 1.0), 2),  # 6 cm at 0.4 m/s, then a still hold
    ("shake", "drop", (0.8, 0.7, 0.0), 2),
)


def probe_specs(catalogue: list[ObjectSpec], seed: int) -> list[InteractionSpec]:
    rng = np.random.default_rng([seed, 0xFEE1])
    specs = []
    for obj in catalogue:
        for primitive, spawn, params, repeats in PROBE_PLAN:
            for _ in range(repeats):
                specs.append(InteractionSpec(len(specs), obj.object_id, spawn, primitive, params,
                                             int(rng.integers(2**31 - 1)), phase=2))
    return specs


def feel_features(states: np.ndarray, competence: float, hand_lag_m: np.ndarray) -> np.ndarray:
    """Feeling features of one lift or shake (recorded states, its competence and the hand's lag
    below its target at the end: `Worker.run`'s `hand_lag_m`, which is also the last recorded
    state's TARGET field)."""
    hand, obj = states[:, S.HAND_POS], states[:, S.OBJ_POS]
    rel = obj - hand
    rise_hand = max(hand[:, 2].max() - hand[0, 2], 1e-3)
    rise = (obj[-1, 2] - obj[0, 2]) / rise_hand
    slip = float(np.linalg.norm(rel[-1] - rel[len(rel) // 2]))
    wobble = float(rel.std(0).sum())
    sag = np.log(max(float(hand_lag_m[2]), 1e-6))
    return np.array([rise, competence, slip, wobble, sag])


def _feel(result: dict) -> np.ndarray:
    return feel_features(result["states"], result["competence"], result["hand_lag_m"])


def features(catalogue: list[ObjectSpec], results: Iterable[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(hearing features, feeling features), one row per catalogue object."""
    hear: dict[int, list] = {o.object_id: [] for o in catalogue}
    feel: dict[int, dict[str, list]] = {o.object_id: {"lift": [], "shake": []} for o in catalogue}
    for r in results:
        spec = r["spec"]
        if spec.primitive == "strike":
            f = audio_features(r["audio"].reshape(-1))
            if f[-1] == 0.0:  # not silent
                hear[spec.object_id].append(f)
        else:
            feel[spec.object_id][spec.primitive].append(_feel(r))
    n_audio = len(audio_features(np.zeros(10)))
    H = np.stack([np.mean(hear[o.object_id], 0) if hear[o.object_id] else np.zeros(n_audio) for o in catalogue])
    M = np.stack([np.concatenate([np.mean(feel[o.object_id]["lift"], 0), np.mean(feel[o.object_id]["shake"], 0)])
                  for o in catalogue])
    return H, M


def fit_logistic(x: np.ndarray, y: np.ndarray, n_classes: int, l2: float = 1e-2, steps: int = 2000,
                 lr: float = 0.5) -> Callable[[np.ndarray], np.ndarray]:
    """Multinomial logistic regression on standardised features; returns a predict function."""
    mu, sd = x.mean(0), x.std(0) + 1e-8
    z = (x - mu) / sd
    w = np.zeros((z.shape[1], n_classes))
    b = np.zeros(n_classes)
    onehot = np.eye(n_classes)[y]
    for _ in range(steps):
        logits = z @ w + b
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(z)
        w -= lr * (z.T @ g + l2 * w)
        b -= lr * g.sum(0)
    return lambda xt: np.argmax(((xt - mu) / sd) @ w + b, axis=1)


def evaluate(train: list[ObjectSpec], train_results: list[dict], heldout: list[ObjectSpec],
             heldout_results: list[dict]) -> dict:
    h_tr, m_tr = features(train, train_results)
    h_te, m_te = features(heldout, heldout_results)
    out = {"n_train_objects": len(train), "n_heldout_objects": len(heldout), "chance": 1 / 3}
    for name, xtr, xte, label in (("hardness_from_audio", h_tr, h_te, "hardness_class"),
                                  ("mass_from_lift_shake", m_tr, m_te, "mass_class")):
        ytr = np.array([getattr(o, label) for o in train])
        yte = np.array([getattr(o, label) for o in heldout])
        predict = fit_logistic(xtr, ytr, 3)
        out[name] = {
            "accuracy": float((predict(xte) == yte).mean()),
            "majority_share": float(np.bincount(yte, minlength=3).max() / len(yte)),
        }
    return out
