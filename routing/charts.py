"""A server-side picture of a route plan (matplotlib, rendered to an inline PNG) for the admin."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt


def route_plan_png(request: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    """The plan's routes on a lon/lat plot as a `data:image/png` URI.

    Depots are black squares, each route a coloured line from its start depot through its stops to its
    end depot, unassigned jobs grey crosses.
    """
    depots = {d["id"]: (d["location"]["lon"], d["location"]["lat"]) for d in request["depots"]}
    jobs = {j["id"]: (j["location"]["lon"], j["location"]["lat"]) for j in request["jobs"]}
    figure, axes = plt.subplots(figsize=(6.4, 5.2))
    colours = plt.get_cmap("tab10")
    for index, route in enumerate(result["routes"]):
        path = [depots[route["start_depot"]], *(jobs[stop["job_id"]] for stop in route["stops"])]
        path.append(depots[route["end_depot"]])
        xs, ys = zip(*path, strict=True)
        axes.plot(xs, ys, "-o", color=colours(index % 10), markersize=3, linewidth=1.2, label=route["vehicle_id"])
    unassigned = [jobs[item["job_id"]] for item in result["unassigned"]]
    if unassigned:
        xs, ys = zip(*unassigned, strict=True)
        axes.plot(xs, ys, "x", color="grey", markersize=6, linestyle="none", label="unassigned")
    xs, ys = zip(*depots.values(), strict=True)
    axes.plot(xs, ys, "s", color="black", markersize=8, linestyle="none", label="depot")
    # A degree of longitude is shorter than one of latitude away from the equator; keep the map's shape.
    mean_latitude = sum(lat for _, lat in [*depots.values(), *jobs.values()]) / (len(depots) + len(jobs))
    axes.set_aspect(1 / max(math.cos(math.radians(mean_latitude)), 0.1))
    axes.set_xlabel("longitude", fontsize=8)
    axes.set_ylabel("latitude", fontsize=8)
    axes.tick_params(labelsize=7)
    axes.set_title(
        f"{result['vehicles_used']} vehicle(s), {result['total_distance']:.1f} km, "
        f"{len(result['unassigned'])} unassigned",
        fontsize=9,
    )
    if len(result["routes"]) <= 10:  # beyond that the legend hides the map
        axes.legend(fontsize=6, loc="best")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
