"""The pages of community review over HTTP, on real databases, with real photos identified by the
packaged model: saving an identification as an observation (idempotent, no quota), the review
queue, votes from the pages going through the same service as the API's, "my observations",
and every refusal (CSRF, signed out, someone else's result, bad fields) answered with a 4xx
page that saves or counts nothing."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.conftest import LiveServer
from web_support import csrf_of, sign_up

from hortus.accounts import service as accounts
from hortus.app import create_app
from hortus.config import Settings
from hortus.observations.models import Observation, ObservationImage, ObservationVote
from hortus.observations.review_store import recompute, review_policy
from hortus.review.aggregation import user_weight
from hortus.web.identify_models import WebIdentification

RESULT = re.compile(r"^/identify/results/([A-Za-z0-9_-]{22})$")
SAVED = re.compile(r"^/observations/(\d+)\?notice=(saved|already-saved)$")
SUNFLOWER = "Helianthus annuus"
F0 = user_weight(0)  # a newcomer's weight


def oxford(shared_data: Path, kind: str, n: int = 3) -> bytes:
    return sorted((shared_data / "oxford17" / kind).glob("*.jpg"))[n].read_bytes()


def links_of(html: str) -> set[str]:
    return {m for m in re.findall(r'(?:href|src)="(/[^"#]*)"', html) if not m.startswith("//")}


def assert_links_answer(client: TestClient, html: str) -> None:
    for link in links_of(html.replace("&amp;", "&")):
        assert client.get(link, follow_redirects=True).status_code == 200, link


@pytest.fixture
def site(settings: Settings) -> Iterator[tuple[FastAPI, Any]]:
    """The app, and a maker of clients: one browser (cookie jar) per person."""
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as first:
        made = [first]

        def person(email: str | None = None) -> TestClient:
            client = made.pop() if made else TestClient(app, follow_redirects=False)
            if email is not None:
                sign_up(client, email)
            return client

        yield app, person


def identify(client: TestClient | httpx.Client, photo: bytes, organ: str = "flower") -> str:
    """Identify one photo on the identify page; the result's id."""
    token = csrf_of(client.get("/identify").text)
    answer = client.post("/identify", data={"csrf_token": token, "organs": [organ]},
                         files=[("images", ("plant.jpg", photo, "image/jpeg"))])
    assert answer.status_code == 303, answer.text[:400]
    match = RESULT.match(answer.headers["location"])
    assert match
    return match.group(1)


def save(client: TestClient | httpx.Client, result_id: str, **fields: str) -> Any:
    page = client.get(f"/identify/results/{result_id}")
    data = {"csrf_token": csrf_of(page.text), "license": "", "lat": "", "lon": "", **fields}
    return client.post(f"/identify/results/{result_id}/observation", data=data)


def saved_id(answer: Any, notice: str = "saved") -> int:
    assert answer.status_code == 303, answer.text[-1500:]
    match = SAVED.match(answer.headers["location"])
    assert match and match.group(2) == notice, answer.headers["location"]
    return int(match.group(1))


def vote(client: TestClient, observation_id: int, name: str, back: str = "observation",
         page: str = "1") -> Any:
    token = csrf_of(client.get(f"/observations/{observation_id}").text)
    return client.post(f"/observations/{observation_id}/determination",
                       data={"csrf_token": token, "name": name, "back": back, "page": page})


def observation_count(app: FastAPI) -> int:
    with app.state.database.read() as session:
        return int(session.scalar(select(func.count()).select_from(Observation)) or 0)


def api_key(app: FastAPI, email: str) -> str:
    with app.state.database.write() as session:
        account = accounts.get_account(session=session, email=email)
        assert account is not None
        return accounts.create_key(session=session, account=account).api_key


def api_observation(app: FastAPI, key: str, observation_id: int) -> dict[str, Any]:
    with TestClient(app) as client:
        answer = client.get(f"/v2/observations/{observation_id}", params={"api-key": key})
    assert answer.status_code == 200, answer.text
    return answer.json()


def selected_score(observation: dict[str, Any]) -> dict[str, float]:
    chosen = [v for v in observation["votes"] if v["selected"]]
    assert len(chosen) == 1, observation["votes"]
    return chosen[0]["score"]


@pytest.mark.both_databases
def test_an_identification_is_saved_as_an_observation_once(site, shared_data: Path) -> None:
    app, person = site
    author = person("author@example.org")
    result_id = identify(author, oxford(shared_data, "sunflower"))
    page = author.get(f"/identify/results/{result_id}")
    assert "Save as observation" in page.text
    assert f'action="/identify/results/{result_id}/observation"' in page.text
    assert f'name="determination" value="{SUNFLOWER}"' in page.text
    assert '<option value="cc-by-sa" selected>CC BY-SA 4.0</option>' in page.text
    allowance = "499 more plants today"
    assert allowance in author.get("/identify").text

    answer = save(author, result_id, determination=SUNFLOWER, license="cc-by", lat="48.85",
                  lon="2.35")
    observation_id = saved_id(answer)
    shown = author.get(answer.headers["location"])
    assert shown.status_code == 200
    assert "Saved as an observation" in shown.text and SUNFLOWER in shown.text
    assert "Not valid yet" in shown.text and f"{F0:.2f}" in shown.text
    assert "CC BY 4.0" in shown.text and "https://creativecommons.org/licenses/by/4.0/" in \
        shown.text
    with app.state.database.read() as session:
        author_id = accounts.get_account(session=session, email="author@example.org").id
    assert f"anonymous #{author_id}" in shown.text  # the author's public name, never the e-mail
    assert "author@example.org" not in shown.text.replace(
        '<span class="who">author@example.org</span>', "")
    assert 'href="/plants/id/' in shown.text  # the plant's profile
    assert_links_answer(author, shown.text)
    assert allowance in author.get("/identify").text  # saving identified nothing again

    # What was saved: the result's stored photos and organs, its suggestions and date.
    with app.state.database.read() as session:
        row = session.get(Observation, observation_id)
        identification = session.get(WebIdentification, result_id)
        assert row is not None and identification is not None
        stored = app.state.media.open(identification.photos[0]["key"]).read()
        assert [i.sha256 for i in row.images] == [hashlib.sha256(stored).hexdigest()]
        assert [i.declared_organ for i in row.images] == ["flower"]
        assert [(s["species"], round(s["score"], 6)) for s in row.ai_suggestions] == \
            [(c["name"], c["score"]) for c in identification.candidates]
        assert row.license == "cc-by" and (row.latitude, row.longitude) == (48.85, 2.35)
        assert row.author_id == author_id
        assert abs((row.observed_at - identification.created_at).total_seconds()) < 0.001
        determination = session.scalars(select(ObservationVote.value).where(
            ObservationVote.observation_id == observation_id,
            ObservationVote.kind == "determination")).all()
        assert determination == [SUNFLOWER]

    # Saving again (a second click, Back and submit): the same observation, no second one.
    again = save(author, result_id, determination="unknown")
    assert saved_id(again, "already-saved") == observation_id
    assert "this is that observation" in author.get(again.headers["location"]).text
    assert observation_count(app) == 1

    # The API reads the same observation.
    read = api_observation(app, api_key(app, "author@example.org"), observation_id)
    assert read["submittedName"] == SUNFLOWER and read["currentName"] == SUNFLOWER
    assert read["license"] == "cc-by" and read["isValid"] is False
    assert [s["species"] for s in read["identificationResults"]][0] == SUNFLOWER

    # My observations lists it with its status.
    mine = author.get("/observations/mine")
    assert mine.status_code == 200
    assert f'href="/observations/{observation_id}"' in mine.text
    assert "Not valid yet" in mine.text and "1 observation, newest first" in mine.text
    assert_links_answer(author, mine.text)


def test_saving_is_refused_without_the_right_form_or_person(site, shared_data: Path) -> None:
    app, person = site
    author = person("owner@example.org")
    result_id = identify(author, oxford(shared_data, "sunflower"))
    url = f"/identify/results/{result_id}/observation"

    def refused(answer: Any, status: int, words: str) -> None:
        assert answer.status_code == status, (status, answer.text[-800:])
        assert words in answer.text, answer.text[-2000:]
        assert answer.headers["content-type"].startswith("text/html")
        assert observation_count(app) == 0

    refused(author.post(url, data={"csrf_token": "forged", "determination": SUNFLOWER}), 403,
            "could not be verified")
    refused(save(author, result_id, determination=SUNFLOWER, lat="48.8"), 400,
            "Give both the latitude and the longitude")
    form_again = save(author, result_id, determination=SUNFLOWER, lat="north", lon="2")
    refused(form_again, 400, "The latitude must be a number")
    assert 'value="north"' in form_again.text and f'value="{SUNFLOWER}" required' in \
        form_again.text  # the form again, as filled
    refused(save(author, result_id, determination=SUNFLOWER, lat="95", lon="2"), 400,
            "from -90 to 90")
    refused(save(author, result_id, determination=SUNFLOWER, license="all-rights-reserved"),
            400, "The licence must be one of")
    refused(save(author, result_id, determination="Bellis perennis"), 400,
            "Choose one of the suggested plants")
    refused(save(author, result_id), 400, "Choose the plant you think it is")
    refused(save(author, "no-such-result-at-all-x", determination=SUNFLOWER), 404,
            "no identification at this address")

    # Someone else sees the shared result, not the form, and may not save it.
    other = person("other@example.org")
    shared = other.get(f"/identify/results/{result_id}")
    assert shared.status_code == 200 and f'action="{url}"' not in shared.text
    assert "Only the person who made this identification" in shared.text
    refused(save(other, result_id, determination=SUNFLOWER), 404,
            "no identification at this address")

    # Signed out: what an account adds, and the form's address sends to the sign-in page.
    other.post("/logout", data={"csrf_token": csrf_of(other.get("/identify").text)})
    visitor_page = other.get(f"/identify/results/{result_id}")
    assert f'action="{url}"' not in visitor_page.text
    assert "With a free account you can save an identification as an observation" in \
        visitor_page.text
    answer = other.post(url, data={"csrf_token": csrf_of(visitor_page.text),
                                   "determination": SUNFLOWER})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/login?next=/identify/results/{result_id}"
    # A result made while signed out belongs to nobody: it cannot be saved.
    anonymous = identify(other, oxford(shared_data, "sunflower", 5))
    assert "With a free account" in other.get(f"/identify/results/{anonymous}").text
    refused(save(author, anonymous, determination=SUNFLOWER), 404,
            "no identification at this address")


@pytest.mark.both_databases
def test_review_votes_change_the_label_as_the_api_does(site, settings: Settings,
                                                       shared_data: Path) -> None:
    app, person = site
    author = person("finder@example.org")
    first = saved_id(save(author, identify(author, oxford(shared_data, "sunflower")),
                          determination="unknown"))
    second = saved_id(save(author, identify(author, oxford(shared_data, "sunflower", 8)),
                           determination="unknown"))
    assert first != second

    # The queue, for anyone: newest first, photos large, the AI's suggestions, no votes yet.
    visitor = person()
    queue = visitor.get("/review")
    assert queue.status_code == 200
    assert queue.text.index(f'id="observation-{second}"') < \
        queue.text.index(f'id="observation-{first}"')
    assert "2 observations wait for votes" in queue.text
    assert "a confidence of 2 and at least 70 % of the weighted votes agree" in queue.text
    assert queue.text.count("Not named yet") == 2 and "No votes yet." in queue.text
    assert "/m\"" in queue.text and "The AI's suggestions" in queue.text
    assert "voting needs an account" in queue.text and "/determination" not in queue.text
    assert '<datalist id="species-names">' in queue.text
    assert_links_answer(visitor, queue.text)
    for bad in ("abc", "0", "-1", "1e3"):
        assert visitor.get(f"/review?page={bad}").status_code == 400
    assert "nothing on page 9" in visitor.get("/review?page=9").text
    refused = visitor.post(f"/observations/{first}/determination",
                           data={"csrf_token": csrf_of(queue.text), "name": SUNFLOWER})
    assert refused.status_code == 303 and refused.headers["location"] == \
        f"/login?next=/observations/{first}"

    # A second person's one click ("I think it is ...") names the first observation.
    reviewer = person("reviewer@example.org")
    queue = reviewer.get("/review")
    assert "I think it is Sunflower" in queue.text
    answer = vote(reviewer, first, SUNFLOWER, back="review")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/review?notice=voted#observation-{first}"
    assert "Your vote was counted" in reviewer.get(answer.headers["location"]).text
    key = api_key(app, "reviewer@example.org")
    read = api_observation(app, key, first)
    assert read["currentName"] == SUNFLOWER and "submittedName" not in read
    assert selected_score(read)["confidence"] == pytest.approx(F0)
    assert selected_score(read)["accuracy"] == pytest.approx(1.0)

    # The same vote through the API on the twin observation: the same label, the same figures.
    with TestClient(app) as api:
        through_api = api.post(f"/v2/observations/{second}/votes/determination",
                               params={"api-key": key}, json={"name": SUNFLOWER, "score": 1})
    assert through_api.status_code == 200, through_api.text
    twin = api_observation(app, key, second)
    assert (twin["currentName"], selected_score(twin)) == \
        (read["currentName"], selected_score(api_observation(app, key, first)))

    # Voting again replaces the vote (one per person per target); "unchanged" when the same.
    assert vote(reviewer, first, SUNFLOWER).headers["location"] == \
        f"/observations/{first}?notice=unchanged"
    assert vote(reviewer, first, SUNFLOWER, back="review", page="2").headers["location"] == \
        f"/review?page=2&notice=unchanged#observation-{first}"
    assert vote(reviewer, first, "Bellis perennis").status_code == 303
    with app.state.database.read() as session:
        rows = session.scalars(select(ObservationVote.value).where(
            ObservationVote.observation_id == first, ObservationVote.kind == "determination")
        ).all()
    assert rows == ["Bellis perennis"]
    assert api_observation(app, key, first)["currentName"] == "Bellis perennis"

    # The author's vote on their own observation is their determination; two agreeing people
    # and the author make it valid (3 x f(0) >= 2), and it leaves the queue.
    own = author.get(f"/observations/{first}")
    assert "This is your observation" in own.text and "Your determination" in own.text
    assert "Agree:" in own.text and "<em>Bellis perennis</em>" in own.text
    assert vote(author, first, "Bellis perennis").status_code == 303
    assert api_observation(app, key, first)["submittedName"] == "Bellis perennis"
    third = person("third@example.org")
    assert vote(third, first, "Bellis perennis").status_code == 303
    read = api_observation(app, key, first)
    assert read["isValid"] is True and read["currentName"] == "Bellis perennis"
    assert selected_score(read)["confidence"] == pytest.approx(3 * F0)
    assert f'id="observation-{first}"' not in reviewer.get("/review").text
    page = third.get(f"/observations/{first}")
    assert ">Valid<" in page.text and "how to grow it" in page.text
    mine = author.get("/observations/mine")
    assert mine.text.index(f'/observations/{second}"') < mine.text.index(
        f'/observations/{first}"')
    assert "Valid" in mine.text and "Not valid yet" in mine.text

    # The stored labels equal a full recomputation from the votes.
    assert recompute(database=app.state.database, policy=review_policy(settings)).moved == 0


def test_names_photo_votes_and_refusals(site, shared_data: Path) -> None:
    app, person = site
    author = person("grower@example.org")
    observation_id = saved_id(save(author, identify(author, oxford(shared_data, "sunflower")),
                                   determination=SUNFLOWER))
    reviewer = person("botanist@example.org")
    page = reviewer.get(f"/observations/{observation_id}")
    assert "Agree: Sunflower" in page.text
    assert_links_answer(reviewer, page.text)

    # A name the server does not know: the closest names, one click away; nothing counted.
    typo = vote(reviewer, observation_id, "Helianthus anuus")
    assert typo.status_code == 400 and "Which species did you mean" in typo.text
    assert f'name="name" value="{SUNFLOWER}"' in typo.text
    assert "Vote Sunflower" in typo.text
    common = vote(reviewer, observation_id, "sunflowr")  # a common name, misspelt
    assert common.status_code == 400 and f'value="{SUNFLOWER}"' in common.text
    assert_links_answer(reviewer, common.text)
    with app.state.database.read() as session:
        assert session.scalar(select(func.count()).select_from(ObservationVote).where(
            ObservationVote.kind == "determination")) == 1  # the author's only
    chosen = reviewer.post(f"/observations/{observation_id}/determination", data={
        "csrf_token": csrf_of(typo.text), "name": SUNFLOWER, "back": "observation"})
    assert chosen.headers["location"] == f"/observations/{observation_id}?notice=voted"

    # Photo votes: organ and quality, replacing the person's earlier one.
    with app.state.database.read() as session:
        sha = session.scalars(select(ObservationImage.sha256).where(
            ObservationImage.observation_id == observation_id)).one()
    token = csrf_of(page.text)
    base = f"/observations/{observation_id}/photos/{sha}"
    organ = reviewer.post(f"{base}/organ", data={"csrf_token": token, "organ": "leaf"})
    assert organ.headers["location"] == \
        f"/observations/{observation_id}?notice=voted#photo-{sha}"
    assert reviewer.post(f"{base}/organ", data={"csrf_token": token, "organ": "fruit"}) \
        .status_code == 303
    for quality in ("bad", "good"):
        assert reviewer.post(f"{base}/quality", data={"csrf_token": token,
                                                      "quality": quality}).status_code == 303
    with app.state.database.read() as session:
        votes = sorted(session.execute(select(ObservationVote.kind, ObservationVote.value).where(
            ObservationVote.observation_id == observation_id,
            ObservationVote.kind != "determination")).all())
        image = session.scalars(select(ObservationImage).where(
            ObservationImage.observation_id == observation_id)).one()
    assert votes == [("organ", "flower"), ("organ", "fruit"), ("quality", "good")]
    assert image.organ == "flower"  # one vote each: the author's breaks the tie
    assert image.quality_score == 5.0
    shown = reviewer.get(f"/observations/{observation_id}").text
    assert "Quality votes: 1 good, 0 poor" in shown and "Fruit: 1" in shown

    # Refusals: a 4xx page each, nothing counted.
    def refused(answer: Any, status: int, words: str) -> None:
        assert answer.status_code == status, (status, answer.text[-600:])
        assert words in answer.text
        assert answer.headers["content-type"].startswith("text/html")

    refused(reviewer.post(f"{base}/organ", data={"csrf_token": "x", "organ": "leaf"}), 403,
            "could not be verified")
    refused(reviewer.post(f"/observations/{observation_id}/determination",
                          data={"csrf_token": "x", "name": SUNFLOWER}), 403,
            "could not be verified")
    refused(reviewer.post(f"{base}/organ", data={"csrf_token": token, "organ": "root"}), 400,
            "Choose what the photo shows")
    refused(reviewer.post(f"{base}/quality", data={"csrf_token": token, "quality": "meh"}),
            400, "good or poor")
    refused(reviewer.post(f"/observations/{observation_id}/photos/{'0' * 64}/organ",
                          data={"csrf_token": token, "organ": "leaf"}), 404, "no such photo")
    for missing in ("999999", "abc", "1" * 40):
        refused(reviewer.get(f"/observations/{missing}"), 404, "Observation not found")
        refused(reviewer.post(f"/observations/{missing}/determination",
                              data={"csrf_token": token, "name": SUNFLOWER}), 404,
                "Observation not found")
    refused(reviewer.post(f"/observations/{observation_id}/determination",
                          data={"csrf_token": token, "name": "x" * 5000}), 400,
            "Which species did you mean")
    with app.state.database.read() as session:
        assert sorted(session.execute(select(ObservationVote.kind, ObservationVote.value).where(
            ObservationVote.observation_id == observation_id,
            ObservationVote.kind != "determination")).all()) == votes

    # My observations and its paging need an account.
    assert reviewer.get("/observations/mine").text.count("No observations yet") == 1
    assert reviewer.get("/observations/mine?page=abc").status_code == 400
    reviewer.post("/logout", data={"csrf_token": token})
    assert reviewer.get("/observations/mine").headers["location"] == \
        "/login?next=/observations/mine"
    signed_out = reviewer.post(f"{base}/quality", data={"csrf_token": token, "quality": "good"})
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login")


def test_the_author_deletes_an_observation_after_a_question(site, shared_data: Path) -> None:
    app, person = site
    author = person("leaver@example.org")
    result_id = identify(author, oxford(shared_data, "sunflower"))
    observation_id = saved_id(save(author, result_id, determination=SUNFLOWER))
    with app.state.database.read() as session:
        sha = session.scalars(select(ObservationImage.sha256).where(
            ObservationImage.observation_id == observation_id)).one()
    question_url = f"/observations/{observation_id}/delete"
    page = author.get(f"/observations/{observation_id}")
    assert f'href="{question_url}"' in page.text
    token = csrf_of(page.text)

    # Someone else may neither see the button nor delete it; a visitor is sent to sign in.
    other = person("bystander@example.org")
    assert f'href="{question_url}"' not in other.get(f"/observations/{observation_id}").text
    assert other.get(question_url).status_code == 403
    forbidden = other.post(question_url, data={"csrf_token": csrf_of(
        other.get("/review").text), "confirm": "yes"})
    assert forbidden.status_code == 403 and "Not yours to delete" in forbidden.text
    visitor = person()
    assert visitor.get(question_url).headers["location"] == \
        f"/login?next=/observations/{observation_id}"

    # The question; a post without "yes" asks again; a forged token deletes nothing.
    question = author.get(question_url)
    assert question.status_code == 200 and "Delete observation" in question.text
    assert_links_answer(author, question.text)
    again = author.post(question_url, data={"csrf_token": token})
    assert again.status_code == 200 and 'name="confirm" value="yes"' in again.text
    assert author.post(question_url, data={"csrf_token": "forged", "confirm": "yes"}) \
        .status_code == 403
    assert author.get(f"/observations/{observation_id}").status_code == 200

    deleted = author.post(question_url, data={"csrf_token": token, "confirm": "yes"})
    assert deleted.headers["location"] == "/observations/mine?notice=deleted"
    mine = author.get(deleted.headers["location"]).text
    assert "was deleted" in mine and "No observations yet" in mine
    assert author.get(f"/observations/{observation_id}").status_code == 404
    assert f'id="observation-{observation_id}"' not in author.get("/review").text
    assert author.get(f"/v2/media/references/{sha}/m").status_code == 404  # photos gone
    assert author.post(question_url, data={"csrf_token": token, "confirm": "yes"}) \
        .status_code == 404

    # The result is still the author's: saving it again makes a new observation.
    assert saved_id(save(author, result_id, determination="unknown")) != observation_id


@pytest.mark.both_databases
def test_saves_at_once_make_one_observation(settings: Settings, shared_data: Path) -> None:
    """Four tabs submit the same result at the same moment (a real server, real threads): one
    observation, every answer pointing to it."""
    with LiveServer(settings) as server, \
            httpx.Client(base_url=server.url, timeout=120) as author:
        sign_up(author, "hasty@example.org")  # type: ignore[arg-type]
        result_id = identify(author, oxford(shared_data, "sunflower"))
        form = {"csrf_token": csrf_of(author.get(f"/identify/results/{result_id}").text),
                "determination": SUNFLOWER, "license": "cc0", "lat": "", "lon": ""}
        start = threading.Barrier(4)
        answers: list[httpx.Response] = []

        def submit() -> None:
            with httpx.Client(base_url=server.url, cookies=author.cookies) as tab:
                start.wait()
                answers.append(tab.post(f"/identify/results/{result_id}/observation",
                                        data=form, timeout=120))

        tabs = [threading.Thread(target=submit) for _ in range(4)]
        for tab in tabs:
            tab.start()
        for tab in tabs:
            tab.join()
        assert [a.status_code for a in answers] == [303] * 4, [a.text[-300:] for a in answers]
        locations = sorted(a.headers["location"] for a in answers)
        ids = {SAVED.match(location).group(1) for location in locations}  # type: ignore[union-attr]
        assert len(ids) == 1 and sum("notice=saved" in loc for loc in locations) == 1
        mine = author.get("/observations/mine").text
        assert "1 observation, newest first" in mine
