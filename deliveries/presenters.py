"""Human-readable summaries of imports, shared by the commands that import."""

from __future__ import annotations

from collections.abc import Iterator

from deliveries.services import ImportOutcome


def import_summary_lines(outcome: ImportOutcome, *, show_rejected: int) -> Iterator[str]:
    batch, report = outcome.batch, outcome.report
    yield (
        f"Batch #{batch.pk} ({batch.file_name}, sha256 {batch.file_sha256[:12]}…): "
        f"{batch.rows_read} rows read = {batch.rows_imported} imported + {batch.rows_rejected} rejected "
        f"+ {batch.rows_duplicate} duplicates, in {batch.duration_seconds:.1f} s"
    )
    if batch.normalisations:
        yield "Repaired: " + ", ".join(f"{kind} {count}" for kind, count in batch.normalisations.items())
    if outcome.added_nothing:
        if outcome.already_imported_batch is not None:
            yield f"Nothing new: this file was already imported as batch #{outcome.already_imported_batch.pk}."
        else:
            yield "Nothing new: every accepted row was already imported."
    verdict = "passes" if report.passes_gate else "FAILS"
    yield f"Data quality score {report.score:.2f} / 100: {verdict} the training gate ({report.gate_threshold:g})."
    rejected = list(batch.rejected_rows.all()[:show_rejected])
    for row in rejected:
        yield f"  rejected {row}"
    if batch.rows_rejected > len(rejected):
        yield f"  … and {batch.rows_rejected - len(rejected)} more rejected rows (see the admin)."
