"""Judging the challenger: the second of train_new_model's three parts. The promotion gate's rule
(mindpulse.retrain.gate) applied to the challenger and the live model on the same held-out evaluation rows (the
newest labelled production rows, held out by merge_production_data and unseen by every candidate and by the live
model), or the person's override.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mindpulse import registry, schema
from mindpulse.paths import Layout
from mindpulse.protocol import StepError
from mindpulse.retrain import gate, model_file
from mindpulse.retrain.fit import Candidate, TrainingSettings, evaluate, score

# Fewer evaluation rows than this cannot tell two models apart: the gate then keeps the live model.
MIN_EVALUATION_ROWS = 50


def judge(
    challenger: Candidate,
    layout: Layout,
    evaluation: pd.DataFrame | None,
    settings: TrainingSettings,
    source: Path | None = None,
) -> gate.Verdict:
    """The promotion gate: challenger against the live model on the same held-out evaluation rows."""
    live = registry.current_version(layout)
    if live is None:
        return gate.Verdict(True, "no live model yet", {"drawdown": 0.0})
    rows = 0 if evaluation is None else len(evaluation)
    figures: dict[str, Any] = {"champion_version": live, "evaluation_rows": rows, "tolerance": settings.tolerance}
    if rows < MIN_EVALUATION_ROWS:
        verdict = gate.Verdict(
            False, f"only {rows} evaluation rows (need {MIN_EVALUATION_ROWS}): cannot show it is not worse", figures
        )
    else:
        verdict = _paired_verdict(challenger, layout, evaluation, settings, source, figures)
    return gate.forced(verdict) if settings.force_promote else verdict


def _paired_verdict(
    challenger: Candidate,
    layout: Layout,
    evaluation: pd.DataFrame,
    settings: TrainingSettings,
    source: Path | None,
    figures: dict[str, Any],
) -> gate.Verdict:
    features, target = evaluation[list(schema.FEATURES)], evaluation[schema.TARGET].astype(int)
    if target.nunique() < 2 and settings.metric != "accuracy":
        # Every other metric is undefined (roc_auc) or degenerate (f1, precision, recall) on one class:
        # comparing two models by it would promote or reject on nothing.
        raise StepError(
            f"{source or 'evaluation data'}: column {schema.TARGET} holds one class only in its {len(target)} rows: "
            f"the selection metric {settings.metric} cannot judge the challenger there (accuracy can)"
        )
    champion = model_file.load(layout)
    figures["challenger"] = evaluate(challenger.model, features, target)
    figures["champion"] = evaluate(champion, features, target)
    live_metadata = registry.current_metadata(layout) or {}
    verdict = gate.decide(
        live_score=score(figures["champion"], settings.metric),
        challenger_score=score(figures["challenger"], settings.metric),
        live_correct=(champion.predict(features) == target).tolist(),
        challenger_correct=(challenger.model.predict(features) == target).tolist(),
        live_drawdown=float((live_metadata.get("gate") or {}).get("drawdown", 0.0)),
        rule=settings.rule,
    )
    new, old, live = verdict.figures["challenger_score"], verdict.figures["live_score"], figures["champion_version"]
    headline = f"{settings.metric} {new:.4f} vs live {live} {old:.4f} on {len(target)} held-out rows"
    return gate.Verdict(verdict.promote, f"{headline}; {verdict.reason}", {**figures, **verdict.figures})
