"""The two demo tools: seed a fresh data volume, and play the serving API's part."""

from __future__ import annotations

from mindpulse import atomic, production, registry, schema
from mindpulse.demo import synthetic
from mindpulse.paths import Layout
from mindpulse.protocol import say
from mindpulse.results import Bootstrap, Traffic
from mindpulse.retrain import fit, model_file, training


def bootstrap(layout: Layout, reference_rows: int, seed: int, selection_metric: str) -> Bootstrap:
    """Create reference data and the first model where they are missing; leave existing ones alone."""
    rows = reference_rows
    result: dict[str, str] = {}
    registry.establish_trust(layout)
    if layout.reference_data.exists():
        result["reference_data"] = "kept"
    elif layout.kaggle_data.exists():
        raw = schema.read_csv_bytes(layout.kaggle_data)
        schema.parse_reference(raw, str(layout.kaggle_data))
        atomic.write_bytes(layout.reference_data, raw)
        result["reference_data"] = f"copied from {layout.kaggle_data.name}"
    else:
        frame = synthetic.generate_reference(rows, seed)
        atomic.write_with(layout.reference_data, lambda path: frame.to_csv(path, index=False))
        result["reference_data"] = f"generated {rows} synthetic rows (seed {seed})"
    say(f"{layout.reference_data}: {result['reference_data']}")
    # Read-only mounts cannot create the lock file, so it must exist before any reader runs.
    layout.production_lock.touch(exist_ok=True)
    if registry.current_version(layout) is None:
        settings = fit.TrainingSettings(metric=selection_metric, seed=seed)
        outcome = training.train_and_register(
            layout, layout.reference_data, None, settings, provenance={"trained_by": "bootstrap"}
        )
        result["model"] = f"trained {outcome.algorithm} as {outcome.version}"
    else:
        result["model"] = f"kept {registry.current_version(layout)}"
    say(f"model: {result['model']}")
    return Bootstrap(**result)


def simulate_traffic(
    layout: Layout,
    rows: int,
    covariate_shift: float,
    concept_shift: float,
    unlabelled_share: float,
    seed: int | None,
) -> Traffic:
    """Append `rows` predictions of the live model, with outcomes, through the append protocol."""
    model = model_file.load(layout)
    frame = synthetic.generate_production(rows, model.predict, seed, covariate_shift, concept_shift, unlabelled_share)
    lines = frame.to_csv(index=False, header=False).encode()
    production.append_lines(layout, schema.header_line(schema.PRODUCTION_COLUMNS), lines)
    labelled = int(frame[schema.ACTUAL].notna().sum())
    say(f"appended {rows} rows ({labelled} labelled) to {layout.production_data}")
    return Traffic(
        appended_rows=rows,
        labelled_rows=labelled,
        covariate_shift=covariate_shift,
        concept_shift=concept_shift,
        model_version=registry.current_version(layout),
        bayes_accuracy=round(synthetic.bayes_accuracy(frame[list(schema.FEATURES)], concept_shift), 4),
    )
