"""`manage.py solve_vrp` on real benchmark instances (Solomon VRPTW and CVRPLIB X)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import vrplib
from django.core.management import CommandError, call_command

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "vrp"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"benchmark instances not found at {DATA}")


def _solve_json(path: Path) -> dict[str, object]:
    out = io.StringIO()
    call_command("solve_vrp", str(path), "--time-limit", "2", "--json", stdout=out)
    return json.loads(out.getvalue())


@needs_data
@pytest.mark.parametrize(
    ("name", "instance_format"), [("solomon/R101.txt", "solomon"), ("cvrp_x/X-n101-k25.vrp", "vrplib")]
)
def test_json_routes_serve_every_customer_once_feasibly(name: str, instance_format: str) -> None:
    path = DATA / name
    customers = len(vrplib.read_instance(str(path), instance_format=instance_format)["demand"]) - 1

    report = _solve_json(path)

    visits = sorted(customer for route in report["routes"] for customer in route)  # type: ignore[union-attr]
    assert visits == list(range(1, customers + 1))  # depot omitted, numbered as in the file
    assert report["feasible"] is True
    assert report["vehicles"] == len(report["routes"])  # type: ignore[arg-type]
    assert isinstance(report["gap_percent"], float) and report["gap_percent"] > -1e-6
    assert report["cost"] == pytest.approx(report["best_known"] * (1 + report["gap_percent"] / 100))  # type: ignore[operator]


@needs_data
def test_text_output_reports_cost_vehicles_feasibility_and_gap() -> None:
    out = io.StringIO()
    call_command("solve_vrp", str(DATA / "solomon" / "C101.txt"), "--time-limit", "1", stdout=out)

    lines = dict(line.split(maxsplit=1) for line in out.getvalue().replace("best known", "best_known").splitlines())
    assert lines["feasible"] == "yes"
    assert float(lines["cost"]) >= 827.3
    assert lines["gap"].endswith("%")
    assert int(lines["vehicles"]) >= 10


def test_missing_or_unreadable_files_fail_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        call_command("solve_vrp", str(tmp_path / "absent.txt"))
    garbage = tmp_path / "broken.vrp"
    garbage.write_text("this is not an instance\n")
    with pytest.raises(CommandError, match=r"broken\.vrp: cannot read"):
        call_command("solve_vrp", str(garbage))
