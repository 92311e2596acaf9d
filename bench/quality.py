"""Section: how good the trained model is, against the best any model could do on this data.

The three algorithms train on 100k demo rows with 20% held out, as train_new_model does. The data is
synthetic, so the true probability of every held-out row is known (`mindpulse.demo.synthetic.bayes_accuracy`):
no model can beat the accuracy of predicting with it.
"""

from __future__ import annotations

from typing import Any

from bench.harness import Run

TITLE = "Model quality"
ROWS = 100_000
GAP_POINTS_MAX = 2.0


def measure(run: Run) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    from mindpulse import schema
    from mindpulse.demo import synthetic
    from mindpulse.retrain import fit

    rows = 2000 if run.smoke else ROWS
    frame = synthetic.generate_reference(rows, 42)
    no_recent_rows = frame[schema.ID] < 0
    candidates = fit.train_candidates(frame, no_recent_rows, fit.TrainingSettings())
    target = frame[schema.TARGET].astype(int)
    # The same split train_candidates makes, so the limit is computed on the rows the models are scored on.
    _, test_features, _, _ = train_test_split(
        frame[list(schema.FEATURES)], target, test_size=0.2, random_state=42, stratify=target
    )
    bayes = synthetic.bayes_accuracy(test_features)
    algorithms = {
        candidate.algorithm: candidate.metrics | {"gap_points": (bayes - candidate.metrics["accuracy"]) * 100}
        for candidate in candidates
    }
    return {"rows": rows, "bayes_accuracy": bayes, "winner": candidates[0].algorithm, "algorithms": algorithms}


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    gap = result["algorithms"][result["winner"]]["gap_points"]
    return [
        {
            "target": f"winning model within {GAP_POINTS_MAX:g} accuracy points of the best achievable",
            "measured": f"{gap:.2f} points",
            "met": gap <= GAP_POINTS_MAX,
        }
    ]


def render(result: dict[str, Any]) -> str:
    lines = [
        f"{result['rows']:,} demo rows, 20% held out. Best achievable accuracy on the held-out rows (the generating "
        f"process's own probabilities): **{result['bayes_accuracy']:.4f}**.",
        "",
        "| algorithm | accuracy | F1 | ROC AUC | points below the best achievable |",
        "|---|---|---|---|---|",
    ]
    for algorithm, entry in result["algorithms"].items():
        marker = " (winner)" if algorithm == result["winner"] else ""
        lines.append(
            f"| {algorithm}{marker} | {entry['accuracy']:.4f} | {entry['f1']:.4f} | {entry['roc_auc']:.4f} | "
            f"{entry['gap_points']:.2f} |"
        )
    return "\n".join(lines)


def explain(result: dict[str, Any], document: dict[str, Any]) -> list[str]:
    winner = result["algorithms"][result["winner"]]
    if winner["gap_points"] <= GAP_POINTS_MAX:
        return []
    others = ", ".join(
        f"{name} {entry['accuracy']:.4f}" for name, entry in result["algorithms"].items() if name != result["winner"]
    )
    return [
        f"**Model quality: {winner['gap_points']:.2f} points below the best achievable, target ≤ "
        f"{GAP_POINTS_MAX:g}.** The winner, {result['winner']}, scored {winner['accuracy']:.4f} against "
        f"{result['bayes_accuracy']:.4f} achievable; the others: {others}."
    ]
