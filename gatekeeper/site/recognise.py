"""The site's recognition and decisions (``site.recognition``): the threshold and the rule,
faces identified, two faces compared, liveness checked, through the decision pipeline of
:mod:`gatekeeper.verdicts`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gatekeeper.decision import DLIB_MODEL, DecisionRule, is_live, validate_threshold
from gatekeeper.errors import StoreError
from gatekeeper.evaluate import expected_rates
from gatekeeper.recognition import Gallery, Match
from gatekeeper.site.images import SourceImage, as_source
from gatekeeper.verdicts import Decider, Judging, Verdict
from gatekeeper.vision.measure import FaceMeasure

if TYPE_CHECKING:
    from gatekeeper.site.core import Site

#: Camera id recorded for attempts made from the command line.
CLI_CAMERA = "cli"


@dataclass(frozen=True)
class Identification:
    """One face of an identified image: where, who (``None``: unknown), how close.

    ``distance`` is the decision rule's score for the closest enrolled person (``None`` with
    an empty gallery; accepted at most ``threshold``), ``margin`` the runner-up's score minus
    it; ``decision`` is ``granted``, ``denied`` (recognised but refused) or ``unknown``.
    ``distances``: each encoder's L2 distance to that person (model id → distance), the
    evidence the score weighs; ``low_quality_template``: all of the person's templates are
    below the enrolment bar; ``live_score`` the liveness score (0–1)
    when it was measured (faces that would be granted), and ``spoof`` is the decision of such a
    face judged not live. ``reason`` says why a recognised person was ``denied``
    (:mod:`gatekeeper.schedule`: "deactivated", "outside schedule staff"...).
    """

    box: tuple[int, int, int, int]
    identity: str | None
    distance: float | None
    threshold: float
    margin: float | None
    decision: str
    attempt_id: int | None = None
    distances: dict[str, float] = field(default_factory=dict)
    low_quality_template: bool = False
    live_score: float | None = None
    reason: str | None = None

    def as_dict(self) -> dict:
        return {
            "identity": self.identity,
            "distance": self.distance,
            "threshold": self.threshold,
            "margin": self.margin,
            "decision": self.decision,
            "box": list(self.box),
            "distances": dict(self.distances),
            "low_quality_template": self.low_quality_template,
            "live_score": self.live_score,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class LivenessCheck:
    """One face of an image checked for liveness: its ``box`` (x, y, w, h pixels), its
    ``live_score`` (0–1, the original MiniFASNet score), the ``threshold`` it was judged at,
    and the verdict ``live`` (score ≥ threshold) or ``spoof``."""

    box: tuple[int, int, int, int]
    live_score: float
    threshold: float

    @property
    def verdict(self) -> str:
        return "live" if is_live(self.live_score, self.threshold) else "spoof"

    def as_dict(self) -> dict:
        return {
            "box": list(self.box),
            "live_score": self.live_score,
            "threshold": self.threshold,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class Verification:
    """Two faces compared: each encoder's L2 distance (model id → distance), the site's
    rule's ``score`` (on the threshold's scale; ``inf`` when no tier applies) with the
    ``tier`` that decided and the ``threshold``, and its verdict."""

    distances: dict[str, float]
    score: float
    tier: str | None
    threshold: float
    same: bool


def single_face(engine, source: SourceImage, *, largest: bool, whole_image: bool):
    """The one face of ``source`` (or its largest) with its dlib embedding (engine held by the
    caller); raises for no face or several."""
    return engine.single(source.rgb, largest=largest, whole_image=whole_image, name=source.label)


def _finite(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


class Recognition:
    """The threshold, the rule and faces judged by it (``site.recognition``)."""

    def __init__(self, site: Site):
        self._site = site
        self._decider = Decider(site.store)
        self._last_threshold: float | None = None

    # Threshold.

    @property
    def threshold(self) -> float:
        """The site's L2 distance threshold: set with ``set_threshold``, else the settings'.

        While the store is unavailable (a database server restarting), the value last read is
        used, so a running console keeps deciding as it did; the first read must succeed."""
        try:
            value = self._site.store.get_threshold(self._site.settings.threshold)
        except StoreError:
            if self._last_threshold is None:
                raise
            return self._last_threshold
        self._last_threshold = value
        return value

    def set_threshold(self, value: float) -> None:
        """Set the site's threshold after :func:`~gatekeeper.decision.validate_threshold`."""
        self._site.store.set_threshold(validate_threshold(value))

    def rule(self, threshold: float | None = None) -> DecisionRule:
        """The site's decision rule at ``threshold`` (default: the site's threshold)."""
        return DecisionRule(self.threshold if threshold is None else threshold)

    def expected_rates(self, threshold: float) -> tuple[float | None, float | None, str] | None:
        """(FAR, FRR, where from) at ``threshold``: see
        :func:`gatekeeper.evaluate.expected_rates`."""
        return expected_rates(self._site.settings, threshold)

    def _judging(self, rule: DecisionRule, *, liveness: bool) -> Judging:
        settings = self._site.settings
        return Judging(
            rule,
            self._site.clock(),
            self._site.timezone,
            liveness and settings.liveness == "passive",
            settings.liveness_threshold,
        )

    # The gallery and the trust in it.

    def gallery(self) -> tuple[Gallery, frozenset[int]]:
        """The enrolled templates of everyone, and the ids of the *active* people.

        Rebuilt only when the store's data version changes (one cheap query per call), and
        swapped as one object: a reader never sees a half-updated gallery, and a person enrolled
        or removed from another process is matched or forgotten without a restart. Who may
        enter when (schedules, validity dates) is loaded with it, and reloaded the same way.
        While the store is unavailable the gallery last read is kept (changes made meanwhile
        arrive when it is back); the first read must succeed.
        """
        state = self._decider.gallery_state(self.rule().models)
        return state.gallery, state.active

    def state_problem(self) -> str | None:
        """Why the live state must not decide, or None when the audit chain vouches for it
        (see :meth:`gatekeeper.verdicts.Decider.state_problem`)."""
        return self._decider.state_problem()

    # Judging.

    def judge(
        self,
        rgb: np.ndarray,
        faces: Sequence,
        *,
        threshold: float | None = None,
        deciding: Callable[[Match], bool] | None = None,
        liveness: bool = True,
        embeddings: Mapping[str, np.ndarray] | None = None,
        aggregate: Callable[[int, str, np.ndarray], np.ndarray] | None = None,
    ) -> list[Verdict]:
        """Judge detected faces of ``rgb`` (``FaceEmbedding`` objects) with the site's rule at
        ``threshold`` (default: the site's), at ``clock()``, with the liveness check when the
        site's ``liveness = "passive"`` and ``liveness``; see
        :meth:`gatekeeper.verdicts.Decider.judge`. The caller holds the engine
        (``site.engine_in_use``)."""
        judging = self._judging(self.rule(threshold), liveness=liveness)
        return self._decider.judge(
            self._site.engine_loaded,
            rgb,
            faces,
            judging,
            deciding=deciding,
            embeddings=embeddings,
            aggregate=aggregate,
        )

    def match_embeddings(
        self, embeddings: np.ndarray, *, threshold: float | None = None
    ) -> list[tuple[Match, str]]:
        """Match ``(N, 128)`` dlib embeddings alone against the gallery → (match, decision).

        The site's rule with dlib's opinion alone (no image for the other encoders): its tier
        for dlib alone decides. The decision is ``unknown`` when the rule rejects, ``denied``
        for a deactivated person or one outside their schedule or validity dates (as
        :meth:`judge`), else ``granted``. Recognition from images goes through :meth:`judge`.
        """
        if len(embeddings) == 0:
            return []
        judging = self._judging(self.rule(threshold), liveness=False)
        return self._decider.match_embeddings(embeddings, judging)

    def identify(
        self, image: str | Path | SourceImage, *, camera_id: str = CLI_CAMERA, record: bool = True
    ) -> list[Identification]:
        """The tutorial's ``who_is_it`` for every face of an image, each recorded as an attempt."""
        site = self._site
        source = as_source(image)
        threshold = self.threshold
        with site.engine_in_use() as engine:
            faces = engine.analyze(source.rgb)
            verdicts = self.judge(source.rgb, faces, threshold=threshold)
        results = []
        for face, verdict in zip(faces, verdicts, strict=True):
            match, decision, identity = verdict.match, verdict.decision, verdict.identity
            attempt_id = None
            if record:
                attempt_id = site.store.record_attempt(
                    camera_id=camera_id,
                    name=identity,
                    person_id=match.person_id if identity else None,
                    distance=_finite(match.distance),
                    threshold=threshold,
                    decision=decision,
                    model_id=site.model_id,
                    box=face.face.box,
                    reason=verdict.reason,
                )
            results.append(
                Identification(
                    box=face.face.box,
                    identity=identity,
                    distance=_finite(match.distance),
                    threshold=threshold,
                    margin=_finite(match.margin),
                    decision=decision,
                    attempt_id=attempt_id,
                    distances=verdict.distances,
                    low_quality_template=match.low_quality,
                    live_score=verdict.live_score,
                    reason=verdict.reason,
                )
            )
        return results

    def verify(self, first: str | Path, second: str | Path) -> Verification:
        """Are the single faces of two images the same person, by the site's rule?"""
        sources = [SourceImage.from_path(image) for image in (first, second)]  # both read first
        a, b = (self.measure(source, largest=False) for source in sources)
        evidence, rule = a.evidence(b), self.rule()
        tier = rule.tier_for(evidence.distances)
        score = math.inf if tier is None else tier.score(evidence)
        same = score <= rule.threshold
        name = None if tier is None else tier.name
        return Verification(dict(evidence.distances), score, name, rule.threshold, same)

    def measure(self, image: str | Path | SourceImage, *, largest: bool = True) -> FaceMeasure:
        """An image's face (its largest, or its only one unless ``largest``) as
        :class:`FaceMeasure`: dlib and FaceNet embeddings, below the
        enrolment bar or not; for ``evaluate`` and ``verify``, nothing stored."""
        from gatekeeper.vision.quality import measure_quality

        source = as_source(image)
        with self._site.engine_in_use() as engine:
            face = single_face(engine, source, largest=largest, whole_image=False)
            embeddings = {
                DLIB_MODEL: face.embedding,
                **self.other_embeddings(engine, source.rgb, face),
            }
        low = measure_quality(face.face, face.chip).low
        return FaceMeasure(embeddings, low, float(face.face.box[2]))

    def other_embeddings(self, engine, rgb: np.ndarray, face) -> dict[str, np.ndarray]:
        """The embeddings of ``face`` by every encoder of the rule beyond dlib that is
        installed, by model id (caller holds the engine)."""
        found = {}
        for model_id in self.rule().models:
            if model_id != DLIB_MODEL:
                embedded = engine.embed(model_id, rgb, [face.face])
                if embedded is not None:
                    found[model_id] = embedded[0]
        return found

    # Liveness.

    def liveness(self, image: str | Path | SourceImage) -> list[LivenessCheck]:
        """Every face of an image (largest first) checked for liveness at the site's
        ``liveness_threshold``, whatever the ``liveness`` mode; nothing is recorded (an access
        attempt is a face at the door, see :meth:`identify`)."""
        source = as_source(image)
        with self._site.engine_in_use() as engine:
            faces = engine.detect(source.rgb)
            scores = engine.live_scores(source.rgb, faces)
        threshold = self._site.settings.liveness_threshold
        return [
            LivenessCheck(f.box, float(score), threshold)
            for f, score in zip(faces, scores, strict=True)
        ]

    def live_score(self, image: str | Path) -> float | None:
        """The live score of an image's largest face, ``None`` when it has none (for
        ``evaluate-liveness``)."""
        checks = self.liveness(image)
        return checks[0].live_score if checks else None
