"""A server-side picture of a route plan (matplotlib, rendered to an inline PNG) for the admin."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt

from intellilog.charts import png_data_uri

# Beyond this many stops the visit numbers overlap into a smudge; the lines still show the order.
MAX_LABELLED_STOPS = 80


def route_plan_png(request: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    """The plan's map (`route_plan_figure`) as a `data:image/png` URI."""
    return png_data_uri(route_plan_figure(request, result))


def route_plan_figure(request: Mapping[str, Any], result: Mapping[str, Any]) -> plt.Figure:
    """The plan's routes on a lon/lat map, one line per vehicle in the order it visits its stops.

    Depots are black squares labelled with their ids, each route a coloured line from its start depot through
    its stops (numbered in visit order) to its end depot, unassigned jobs grey crosses.
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
        if sum(len(route["stops"]) for route in result["routes"]) <= MAX_LABELLED_STOPS:
            for order, (x, y) in enumerate(path[1:-1], start=1):
                axes.annotate(str(order), (x, y), xytext=(2, 2), textcoords="offset points", fontsize=5)
    unassigned = [jobs[item["job_id"]] for item in result["unassigned"]]
    if unassigned:
        xs, ys = zip(*unassigned, strict=True)
        axes.plot(xs, ys, "x", color="grey", markersize=6, linestyle="none", label="unassigned")
    xs, ys = zip(*depots.values(), strict=True)
    axes.plot(xs, ys, "s", color="black", markersize=8, linestyle="none", label="depot")
    for depot_id, (x, y) in depots.items():
        axes.annotate(depot_id, (x, y), xytext=(4, -8), textcoords="offset points", fontsize=6, weight="bold")
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
    return figure
