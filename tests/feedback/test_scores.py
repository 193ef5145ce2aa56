"""NPS, CSAT % and CSI checked against values computed by hand on a small dataset; response rates, small
samples flagged, groups by product / guide / period; the rolling gauges in the service's /metrics."""

from __future__ import annotations

from services.feedback import scores
from tests.conftest import Backend
from tests.feedback.support import NOW, invited, tick


def test_measures_by_hand() -> None:
    assert scores.nps([10, 9, 8, 6, 3]) == 0.0  # 2 promoters, 2 detractors of 5
    assert scores.nps([10, 9, 9, 7]) == 75.0  # 3 of 4 promoters, none detracting
    assert scores.nps([0, 6]) == -100.0 and scores.nps([]) is None
    assert scores.csat_percent([5, 4, 3, 2, 5]) == 60.0
    means = scores.element_means([{"guide": 5, "lodging": 4}, {"guide": 3, "lodging": 2}, {"lodging": 3}])
    assert means == {"guide": 4.0, "lodging": 3.0}
    # guide (4 − 1) / 4 = 75, lodging (3 − 1) / 4 = 50; weights 2 and 1: (2·75 + 50) / 3 = 66.7
    assert scores.csi(means, {"guide": 2, "lodging": 1}) == 66.7
    assert scores.csi(means, {}) == 62.5  # unweighted: (75 + 50) / 2
    assert scores.csi({}, {"guide": 1}) is None
    assert scores.is_detractor(6, 4, 0.1, -0.6) == ["nps"]
    assert scores.is_detractor(9, 2, -0.7, -0.6) == ["csat", "comment"]
    assert scores.is_detractor(7, 3, None, -0.6) == []


A = [  # product A, guide G-1: (nps, csat, ratings) answered; a sixth invitation stays unanswered
    (10, 5, {"rate_guide": 5, "rate_lodging": 4}),
    (9, 4, {"rate_guide": 3, "rate_lodging": 2}),
    (8, 3, {"rate_lodging": 3}),
    (6, 2, {}),
    (3, 5, {}),
]
B = [(10, 5, {}), (10, 4, {})]  # product B, guide G-2


async def test_scores_through_the_api(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    config = (await feedback.client.get("/v1/surveys/config")).json()
    weights = {"guide": 2, "lodging": 1} | {e: 0 for e in ("meals", "transport", "sightseeing", "shopping",
                                                           "entertainment", "value", "expectations")}
    r = await feedback.client.put("/v1/surveys/config", json=config | {"csi_weights": weights, "small_sample": 3})
    assert r.status_code == 200, r.text
    rows = [("P-A", "G-1", a) for a in A] + [("P-A", "G-1", None)] + [("P-B", "G-2", b) for b in B]
    for n, (product, guide, answer) in enumerate(rows):
        invitation = await invited(backend, feedback, f"s-{n}", f"sb-{n}", product=product, tags=[f"guide:{guide}"])
        if answer:
            nps, csat, ratings = answer
            r = await feedback.client.post(f"/v1/surveys/invitations/{invitation.token}/responses",
                                           json={"answers": {"nps": nps, "csat": csat, **ratings}})
            assert r.status_code == 201, r.text

    body = (await feedback.client.get("/v1/feedback/scores", params={"by": "product"})).json()
    overall = body["overall"]
    # 7 answers: promoters 10, 9, 10, 10 (4), detractors 6, 3 (2) → (4 − 2) / 7 = 28.6; CSAT 5 of 7 ≥ 4 → 71.4
    assert (overall["responses"], overall["invited"], overall["response_rate"]) == (7, 8, 0.875)
    assert (overall["nps"], overall["csat_pct"], overall["promoters_pct"], overall["detractors_pct"]) == (28.6, 71.4, 57.1, 28.6)
    a, b = body["groups"]
    assert (a["key"], a["responses"], a["invited"], a["response_rate"]) == ("P-A", 5, 6, 0.833)
    assert (a["nps"], a["csat_pct"], a["elements"], a["csi"]) == (0.0, 60.0, {"guide": 4.0, "lodging": 3.0}, 66.7)
    assert not a["small_sample"]
    assert (b["key"], b["nps"], b["csat_pct"], b["csi"], b["small_sample"]) == ("P-B", 100.0, 100.0, None, True)

    by_guide = (await feedback.client.get("/v1/feedback/scores", params={"by": "guide"})).json()
    assert [(g["key"], g["nps"]) for g in by_guide["groups"]] == [("G-1", 0.0), ("G-2", 100.0)]
    by_channel = (await feedback.client.get("/v1/feedback/scores", params={"by": "channel"})).json()["groups"]
    assert [(g["key"], g["responses"], g["invited"]) for g in by_channel] == [("app", 7, 8)]
    by_kind = (await feedback.client.get("/v1/feedback/scores", params={"by": "kind"})).json()["groups"]
    assert [(g["key"], g["nps"]) for g in by_kind] == [("post-trip", 28.6)]
    only_b = (await feedback.client.get("/v1/feedback/scores", params={"product": "P-B"})).json()["overall"]
    assert (only_b["responses"], only_b["nps"]) == (2, 100.0)
    lodging = (await feedback.client.get("/v1/feedback/scores", params={"element": "lodging"})).json()["overall"]
    assert lodging["responses"] == 3
    trend = (await feedback.client.get("/v1/feedback/scores", params={"by": "period", "period": "year"})).json()
    assert len(trend["groups"]) == 1 and trend["groups"][0]["responses"] == 7
    assert (await feedback.client.get("/v1/feedback/scores", params={"by": "nonsense"})).status_code == 422
    assert (await feedback.client.get("/v1/feedback/scores", params={"start": "yesterday"})).status_code == 422

    await tick(feedback, NOW)
    metrics = (await feedback.client.get("/metrics")).text
    assert "tourcrm_feedback_nps_rolling 28.6" in metrics
    assert "tourcrm_feedback_response_rate 0.875" in metrics
    # all 7 answers: guide (5, 3) → 75, lodging (4, 2, 3) → 50, weighted 2 : 1 → 66.7
    assert "tourcrm_feedback_csi_rolling 66.7" in metrics


async def test_config_is_checked(backend: Backend) -> None:
    feedback = await backend.service("feedback")
    config = (await feedback.client.get("/v1/surveys/config")).json()
    assert config["recontact_days"] == 30
    r = await feedback.client.put("/v1/surveys/config", json=config | {"csi_weights": {"spa": 1}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "csi_weights"
    assert (await feedback.client.put("/v1/surveys/config", json=config | {"recontact_days": -1})).status_code == 422
    async with feedback.client_as("feedback:read") as reader:
        assert (await reader.put("/v1/surveys/config", json=config)).status_code == 403
