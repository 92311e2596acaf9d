"""How much of the accuracy lost to a concept shift one retrain wins back, over many seeds.

A first model is trained on the demo reference as the bootstrap trains it. Then, for each seed and
each count of new labelled rows, production receives that many rows under a full concept shift
(CONCEPT_SHIFT=1) and one retrain runs through the steps' own functions: merge_production_data, then
train_new_model (windows, candidate choice, promotion gate). The live model afterwards is scored on
fresh shifted rows; recovered share = (accuracy after retrain - accuracy after the shift) /
(accuracy before the shift - accuracy after the shift). Each seed draws other production rows and
trains with another seed; the test rows are the same for every seed.

For comparison, the same seeds at the first row count also run with the challenger chosen as before
the one-standard-error rule: the best validation score (training.choose replaced for those runs).

A section of bench/benchmark.py (`--sections concept_shift`).
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from unittest.mock import patch

from bench import stats
from bench.harness import Run

TITLE = "Recovery from a full concept shift after one retrain"

TARGET_SHARE = 0.8
STAMP = "20260101_000000"
# 20,000 reference rows, not the 100,000 of bench/benchmark.py: the recovery comes from the recent window,
# and fitting every candidate on 100,000 rows 30 times takes over an hour on 2 shared cores.
FULL = {"reference_rows": 20_000, "test_rows": 20_000, "added": [1000, 5000], "seeds": 10}
SMOKE = {"reference_rows": 3000, "test_rows": 2000, "added": [600], "seeds": 2}
RULES = ("one_standard_error", "best_validation_score")


def best_validation_score(candidates: list[Any], settings: Any) -> tuple[Any, dict[str, Any]]:
    """The choice before the one-standard-error rule: the candidate with the best validation score."""
    return candidates[0], {"best_on_validation": candidates[0].name, "standard_error": None}


def layout_in(folder: Path) -> Any:
    from mindpulse.paths import Layout

    return Layout.under(folder)


def accuracy(model: Any, frame: Any) -> float:
    from mindpulse import schema

    predicted = model.predict(frame[list(schema.FEATURES)])
    return float((predicted == frame[schema.ACTUAL].astype(int).to_numpy()).mean())


def retrain_once(template: Path, scratch: Path, rows: int, seed: int, live: Any, test: Any) -> dict[str, Any]:
    """One retrain on a private copy of the bootstrapped volumes after `rows` shifted labelled rows."""
    from mindpulse import catalog, production, schema
    from mindpulse.demo import synthetic
    from mindpulse.retrain import fit, merge, model_file, training

    shutil.copytree(template, scratch, symlinks=True)
    layout = layout_in(scratch)
    shifted = synthetic.generate_production(rows, live.predict, seed=100_000 + 1000 * seed + rows, concept_shift=1.0)
    lines = shifted.to_csv(index=False, header=False).encode()
    production.append_lines(layout, schema.header_line(schema.PRODUCTION_COLUMNS), lines)
    merge.merge_production_data(layout, **catalog.step("merge_production_data").defaults() | {"run_stamp": STAMP})
    outcome = training.train_and_register(
        layout, layout.training_data, layout.evaluation_data, fit.TrainingSettings(seed=seed), {}
    )
    retrained = accuracy(model_file.load(layout), test)
    shutil.rmtree(scratch)
    return {
        "seed": seed,
        "challenger": f"{outcome.algorithm}@{outcome.window}",
        "promoted": outcome.promoted,
        "accuracy": retrained,
    }


def measure(run: Run) -> dict[str, Any]:
    from mindpulse import schema
    from mindpulse.demo import synthetic, tools
    from mindpulse.retrain import model_file, training

    config = SMOKE if run.smoke else FULL

    with tempfile.TemporaryDirectory() as folder:
        template = Path(folder) / "template"
        layout = layout_in(template)
        layout.reports_dir.mkdir(parents=True)
        tools.bootstrap(layout, reference_rows=config["reference_rows"], seed=42, selection_metric="accuracy")
        live = model_file.load(layout)
        before_test = synthetic.generate_production(config["test_rows"], live.predict, seed=501)
        shifted_test = synthetic.generate_production(config["test_rows"], live.predict, seed=502, concept_shift=1.0)
        before, after = accuracy(live, before_test), accuracy(live, shifted_test)
        retrains: dict[str, Any] = {}
        for rule, rows in [(RULES[0], rows) for rows in config["added"]] + [(RULES[1], config["added"][0])]:
            runs = []
            for seed in range(config["seeds"]):
                with patch.object(training, "choose", best_validation_score) if rule == RULES[1] else nullcontext():
                    run = retrain_once(template, Path(folder) / "run", rows, seed, live, shifted_test)
                run["recovered_share"] = (run["accuracy"] - after) / (before - after)
                print(f"{rule}, {rows} rows, seed {seed}: {run}", flush=True)
                runs.append(run)
            retrains.setdefault(rule, {})[str(rows)] = {
                "runs": runs,
                "recovered_share": stats.mean_interval([run["recovered_share"] for run in runs]),
                "accuracy": stats.mean_interval([run["accuracy"] for run in runs]),
            }
    return {
        **{key: config[key] for key in ("reference_rows", "test_rows", "seeds")},
        "accuracy_before_shift": before,
        "accuracy_after_shift": after,
        "bayes_after_shift": synthetic.bayes_accuracy(shifted_test[list(schema.FEATURES)], 1.0),
        "live_model": type(live.named_steps["classifier"]).__name__,
        "target_share": TARGET_SHARE,
        "retrain": retrains,
    }


def render(results: dict[str, Any]) -> str:
    lines = [
        f"Live model trained on {results['reference_rows']:,} reference rows; accuracy on {results['test_rows']:,} "
        f"rows: {results['accuracy_before_shift']:.4f} before the shift, {results['accuracy_after_shift']:.4f} "
        f"after it (best achievable after: {results['bayes_after_shift']:.4f}). {results['seeds']} seeds per row "
        "count; intervals are 95% Student-t intervals of the mean over seeds.",
        "",
        "| challenger chosen by | new labelled rows | recovered share: mean [95% interval] | "
        f"accuracy: mean [95% interval] | target ≥ {results['target_share']:.0%} | challengers chosen |",
        "|---|---:|---|---|---|---|",
    ]
    measured = [(rule, rows, entry) for rule, entries in results["retrain"].items() for rows, entry in entries.items()]
    for rule, rows, entry in measured:
        share, score = entry["recovered_share"], entry["accuracy"]
        chosen: dict[str, int] = {}
        for run in entry["runs"]:
            chosen[run["challenger"]] = chosen.get(run["challenger"], 0) + 1
        met = "met" if share["mean"] >= results["target_share"] else "missed"
        lines.append(
            f"| {rule.replace('_', ' ')} | {int(rows):,} | "
            f"{share['mean']:.1%} [{share['low']:.1%}, {share['high']:.1%}] | "
            f"{score['mean']:.4f} [{score['low']:.4f}, {score['high']:.4f}] | {met} (mean) | "
            + ", ".join(f"{name} x{count}" for name, count in sorted(chosen.items()))
            + " |"
        )
    lines += ["", "Per seed (recovered share):", ""]
    for rule, rows, entry in measured:
        figures = ", ".join(f"{run['recovered_share']:.1%}" for run in entry["runs"])
        lines.append(f"- {rule.replace('_', ' ')}, {int(rows):,} rows: {figures}")
    return "\n".join(lines)


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    rule = RULES[0]
    rows = max(result["retrain"][rule], key=int)
    share = result["retrain"][rule][rows]["recovered_share"]
    return [
        {
            "target": f"one retrain after a concept shift recovers >= {result['target_share']:.0%} of the lost "
            f"accuracy ({int(rows):,} new rows, mean of {result['seeds']} seeds)",
            "measured": f"{share['mean']:.0%} [95% interval {share['low']:.0%}, {share['high']:.0%}]",
            "met": share["mean"] >= result["target_share"],
        }
    ]


def explain(result: dict[str, Any], document: dict[str, Any]) -> list[str]:
    paragraphs = []
    for rows, entry in result["retrain"][RULES[0]].items():
        share = entry["recovered_share"]
        if share["mean"] >= result["target_share"]:
            continue
        lowest = min(entry["runs"], key=lambda run: run["recovered_share"])
        paragraphs.append(
            f"**Concept shift, {int(rows):,} new rows: {share['mean']:.1%} recovered on average, target ≥ "
            f"{result['target_share']:.0%}.** 95% interval {share['low']:.1%} to {share['high']:.1%} over "
            f"{result['seeds']} seeds; the lowest seed recovered {lowest['recovered_share']:.1%} with "
            f"{lowest['challenger']}."
        )
    return paragraphs
