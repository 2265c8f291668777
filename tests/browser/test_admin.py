"""The admin as a person uses it: log in, two people walk a promotion, an audit's picture, monitoring pages."""

from __future__ import annotations

import re

from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from monitoring.models import AccuracyReport, DriftReport
from predictions.models import PredictionAudit
from registry.choices import Alias
from registry.models import ModelAlias, ShadowEvaluation
from registry.services import approvers_group_ensure
from registry.tests.factories import UserFactory
from routing.services import route_plan_create, route_plan_solve
from routing.tests.factories import problem_payload
from tenants.tests.factories import TenantFactory

PASSWORD = "a-long-browser-test-password"


def _user(username: str, **fields: object):  # type: ignore[no-untyped-def]
    user = UserFactory(username=username, **fields)
    user.set_password(PASSWORD)
    user.save()
    return user


def _log_in(browser, live_server, username: str) -> None:  # type: ignore[no-untyped-def]
    browser.delete_all_cookies()
    browser.get(live_server.url + reverse("admin:login"))
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The click only starts the POST: wait for its redirect, or a following get() can land before it and be
    # overtaken by the redirect to the admin index.
    WebDriverWait(browser, 10).until(lambda driver: "/login/" not in driver.current_url)


def _messages(browser) -> str:  # type: ignore[no-untyped-def]
    return " ".join(element.text for element in browser.find_elements(By.CSS_SELECTOR, "ul.messagelist li"))


def test_two_people_promote_the_challenger_and_every_page_shows_its_data(  # type: ignore[no-untyped-def]
    browser, screenshot, live_server, simulated
) -> None:
    monitored, challenger = simulated
    _user("maker", is_superuser=True)
    checker = _user("checker")
    checker.groups.add(approvers_group_ensure())

    # The maker logs in and finds the challenger in the versions list, the champion without a promote link.
    _log_in(browser, live_server, "maker")
    assert "Site administration" in browser.page_source
    screenshot("admin-index")
    browser.get(live_server.url + reverse("admin:registry_modelversion_changelist"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    champion_row = next(row for row in rows if "champion" in row.text)
    challenger_row = next(row for row in rows if "challenger" in row.text)
    assert "Request promotion" not in champion_row.text
    screenshot("model-versions")
    challenger_row.find_element(By.LINK_TEXT, "Request promotion…").click()
    assert browser.find_elements(By.TAG_NAME, "h1")[-1].text.count("promotion") == 1  # the title once
    browser.find_element(By.NAME, "text").send_keys("lower MAE on the last week")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The request computes the evidence (both models on the evaluation window, SHAP, plots) before it answers.
    WebDriverWait(browser, 180).until(lambda driver: _messages(driver))
    assert f"Promotion of {challenger} requested" in _messages(browser)

    # The maker may not approve their own request, and the refused form keeps the typed comment.
    request_url = live_server.url + reverse("admin:registry_promotionrequest_changelist")
    browser.get(request_url)
    browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr th a").click()
    request_change_url = browser.current_url
    beeswarm = browser.find_element(By.CSS_SELECTOR, "img[alt^='SHAP summary (beeswarm)']")
    assert browser.execute_script("return arguments[0].naturalWidth", beeswarm) > 300
    screenshot("promotion-request")
    approve_url = request_change_url.rstrip("/").rsplit("/", 1)[0] + "/approve/"
    browser.get(approve_url)
    browser.find_element(By.NAME, "text").send_keys("looks good to me")
    for field in browser.find_elements(By.NAME, "override_reason"):
        field.send_keys("demo: the shadow test is still collecting")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert "cannot decide" in _messages(browser)
    assert browser.find_element(By.NAME, "text").get_attribute("value") == "looks good to me"

    # The checker, an approver without superuser rights, approves and can reach the rollback.
    _log_in(browser, live_server, "checker")
    browser.get(approve_url)
    browser.find_element(By.NAME, "text").send_keys("checked the evidence")
    for field in browser.find_elements(By.NAME, "override_reason"):
        field.send_keys("browser test: equal models, no significant evidence expected")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    assert "now the champion" in _messages(browser)
    assert (
        ModelAlias.objects.get(registered_model=challenger.registered_model, alias=Alias.CHAMPION).version == challenger
    )
    browser.get(
        live_server.url + reverse("admin:registry_registeredmodel_change", args=[challenger.registered_model_id])
    )
    assert browser.find_elements(By.PARTIAL_LINK_TEXT, "Roll back to the previous champion")
    browser.get(live_server.url + reverse("admin:registry_registryevent_changelist"))
    assert "promoted" in browser.page_source.lower()

    # An audited prediction: a table with units and its explanation picture, drawn by the server.
    _log_in(browser, live_server, "maker")
    audit = PredictionAudit.objects.filter(tenant=monitored.tenant).first()
    browser.get(live_server.url + reverse("admin:predictions_predictionaudit_change", args=[audit.pk]))
    picture = browser.find_element(By.CSS_SELECTOR, "img.il-chart")
    assert browser.execute_script("return arguments[0].naturalWidth", picture) > 300
    assert f"{audit.predicted_eta_minutes:.1f} min" in browser.page_source
    assert not browser.find_element(By.CSS_SELECTOR, "details.il-raw").get_attribute("open")
    screenshot("prediction-audit")

    # The monitoring pages after the simulated run.
    drifted = DriftReport.objects.filter(tenant=monitored.tenant, is_drifted=True).first()
    assert drifted is not None
    browser.get(live_server.url + reverse("admin:monitoring_driftreport_changelist"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) >= 1
    screenshot("drift-reports")
    browser.get(live_server.url + reverse("admin:monitoring_driftreport_change", args=[drifted.pk]))
    assert "traffic" in browser.page_source
    screenshot("drift-report")
    browser.get(live_server.url + reverse("admin:monitoring_accuracyreport_changelist"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == min(
        AccuracyReport.objects.filter(tenant=monitored.tenant).count(), 100
    )
    screenshot("accuracy-reports")
    report = AccuracyReport.objects.filter(tenant=monitored.tenant, mae__isnull=False).order_by("-window_end").first()
    browser.get(live_server.url + reverse("admin:monitoring_accuracyreport_change", args=[report.pk]))
    chart = browser.find_element(By.CSS_SELECTOR, "img[alt='realized MAE and CUSUM over time']")
    assert browser.execute_script("return arguments[0].naturalWidth", chart) > 300
    screenshot("accuracy-report")
    evaluation = ShadowEvaluation.objects.filter(challenger=challenger).order_by("-look").first()
    browser.get(live_server.url + reverse("admin:registry_shadowevaluation_change", args=[evaluation.pk]))
    assert "p value" in browser.page_source.lower() or "boundary" in browser.page_source.lower()
    screenshot("shadow-evaluation")
    browser.get(live_server.url + reverse("admin:monitoring_alert_changelist"))
    assert "drift" in browser.page_source.lower()
    screenshot("alerts")


def test_a_route_plan_shows_its_map_and_itinerary(browser, screenshot, live_server, db) -> None:  # type: ignore[no-untyped-def]
    problem = {**problem_payload(jobs=10, vehicles=3), "speed_kmh": 30.0}
    plan = route_plan_create(tenant=TenantFactory(), request=problem)
    route_plan_solve(plan_id=plan.pk)
    _user("planner", is_superuser=True)
    _log_in(browser, live_server, "planner")

    browser.get(live_server.url + reverse("admin:routing_routeplan_change", args=[plan.pk]))

    picture = browser.find_element(By.CSS_SELECTOR, "img.il-chart")
    assert browser.execute_script("return arguments[0].naturalWidth", picture) > 300
    assert re.search(r"\d\d:\d\d-\d\d:\d\d", browser.page_source)  # each vehicle's shift in HH:MM
    screenshot("route-plan")
