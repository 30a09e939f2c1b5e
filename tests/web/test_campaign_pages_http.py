"""The console's campaign pages over real HTTP: the editor, launch and stop, refusals with the
API's error texts, roles, isolation, subscribing, the report and the answers CSV."""

from __future__ import annotations

import re
from collections.abc import Callable

from tambuli.campaigns import reply_store
from tambuli.campaigns import service as campaigns
from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.organizations.models import NewOrganization, Role
from tambuli.organizations.profile import update_profile
from tests.conftest import OrgFactory
from tests.web.console_client import ConsoleBrowser, make_person

Opener = Callable[[], ConsoleBrowser]


def _drip_fields(name: str, **extra: str) -> dict[str, str]:
    return {
        "name": name,
        "kind": "drip",
        "sender": "",
        "open_for_subscriptions": "on",
        "window_from": "08:00",
        "window_until": "20:00",
        "steps": "2",
        "s0_unit": "",
        "s0_text0": "Welcome to the rice advice!",
        "s0_langs": "1",
        "s0_lang1": "Tagalog",
        "s0_text1": "Maligayang pagdating!",
        "s1_unit": "day",
        "s1_value": "1",
        "s1_time": "09:00",
        "s1_zone": "Asia/Manila",
        "s1_langs": "1",
        "s1_text0": "Day 1: prepare the seedbed",
        "action": "save",
        **extra,
    }


async def _editor_of(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> tuple[NewOrganization, ConsoleBrowser]:
    org = await make_org(name="Rice Cooperative")
    await update_profile(db, org.org_id, default_sender_id="COOP")
    person = await make_person(db, clock, org.org_id, Role.EDITOR)
    browser = open_console()
    browser.sign_in(person)
    return org, browser


async def test_an_editor_writes_a_drip_campaign_edits_launches_and_stops_it(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org, browser = await _editor_of(db, clock, make_org, open_console)
    base = f"/orgs/{org.org_id}/campaigns"
    saved = browser.submit(f"{base}/new", f"{base}/new", _drip_fields("Rice advice"))
    assert saved.status_code == 303, saved.text
    campaign_url = saved.headers["location"].partition("?")[0]
    [stored] = await campaigns.list_campaigns(db, org.org_id)
    assert campaign_url == f"{base}/{stored.id}"
    assert stored.definition["steps"][0]["message"] == {
        "default": "Welcome to the rice advice!",
        "Tagalog": "Maligayang pagdating!",
    }
    assert stored.definition["sendingWindow"] == {"from": "08:00", "until": "20:00"}
    page = browser.page(campaign_url)
    assert page.status_code == 200
    assert "1 day later at 09:00 Asia/Manila" in page.text and "at once" in page.text
    listed = browser.page(base)
    assert "Rice advice" in listed.text and f'data-copy="{stored.id}"' in listed.text

    edited = browser.submit(
        f"{campaign_url}/edit", f"{campaign_url}/edit", _drip_fields("Rice advice 2026")
    )
    assert edited.status_code == 303
    assert (await campaigns.get_campaign(db, org.org_id, stored.id)).name == "Rice advice 2026"

    launched = browser.submit(campaign_url, f"{campaign_url}/launch", {})
    assert launched.status_code == 303
    assert (await campaigns.get_campaign(db, org.org_id, stored.id)).state.value == "launched"
    form = browser.page(f"{campaign_url}/edit")
    assert "its kind and steps are fixed" in form.text
    renamed = browser.submit(
        f"{campaign_url}/edit", f"{campaign_url}/edit", _drip_fields("Rice advice, launched")
    )
    assert renamed.status_code == 303
    assert (await campaigns.get_campaign(db, org.org_id, stored.id)).name == "Rice advice, launched"
    stopped = browser.submit(base, f"{campaign_url}/stop", {"back": "list"})
    assert stopped.status_code == 303 and stopped.headers["location"] == base
    assert (await campaigns.get_campaign(db, org.org_id, stored.id)).state.value == "stopped"


async def test_an_invalid_definition_shows_the_apis_error_beside_the_kept_input(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org, browser = await _editor_of(db, clock, make_org, open_console)
    base = f"/orgs/{org.org_id}/campaigns"
    refused = browser.submit(
        f"{base}/new", f"{base}/new", _drip_fields("Bad delay", s1_time="9 in the morning")
    )
    assert refused.status_code == 400
    assert 'role="alert"' in refused.text and "delay.time" in refused.text
    assert 'value="9 in the morning"' in refused.text and "Maligayang pagdating!" in refused.text
    blast = browser.submit(f"{base}/new", f"{base}/new", _drip_fields("Two blasts", kind="blast"))
    assert blast.status_code == 400 and "A blast campaign has exactly one step" in blast.text
    as_json = browser.submit(
        f"{base}/new", f"{base}/new", {"action": "save_json", "definition": '{"name": "x"}'}
    )
    assert as_json.status_code == 400 and "kind must be one of" in as_json.text
    assert await campaigns.list_campaigns(db, org.org_id) == []


async def test_step_rows_are_added_and_removed_on_the_server_without_saving(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org, browser = await _editor_of(db, clock, make_org, open_console)
    base = f"/orgs/{org.org_id}/campaigns"
    added = browser.submit(f"{base}/new", f"{base}/new", _drip_fields("Rows", action="add_step"))
    assert added.status_code == 200 and "Step 3" in added.text
    assert "Day 1: prepare the seedbed" in added.text
    removed = browser.submit(
        f"{base}/new", f"{base}/new", _drip_fields("Rows", action="remove_step:0")
    )
    assert "Step 2" not in removed.text and "Welcome to the rice advice!" not in removed.text
    assert await campaigns.list_campaigns(db, org.org_id) == []


async def test_a_refused_stop_shows_the_apis_reason(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    person = await make_person(db, clock, org.org_id, Role.EDITOR)
    browser = open_console()
    browser.sign_in(person)
    campaign = await campaigns.create_campaign(
        db, clock, org.org_id, {"name": "Draft", "kind": "blast", "steps": [{"message": "Hi"}]}
    )
    url = f"/orgs/{org.org_id}/campaigns/{campaign.id}"
    refused = browser.submit(url, f"{url}/stop", {})
    assert refused.status_code == 400
    assert "A draft campaign was never launched, so it cannot stop" in refused.text


async def test_a_viewer_reads_campaigns_but_changes_nothing(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    campaign = await campaigns.create_campaign(
        db, clock, org.org_id, {"name": "Read only", "kind": "blast", "steps": [{"message": "Hi"}]}
    )
    viewer = await make_person(db, clock, org.org_id, Role.VIEWER)
    browser = open_console()
    browser.sign_in(viewer)
    base = f"/orgs/{org.org_id}/campaigns"
    listed = browser.page(base)
    assert listed.status_code == 200 and "Read only" in listed.text
    assert "New campaign" not in listed.text and "Launch" not in listed.text
    assert browser.page(f"{base}/{campaign.id}").status_code == 200
    assert browser.page(f"{base}/new").status_code == 403
    assert browser.page(f"{base}/{campaign.id}/edit").status_code == 403
    for action in ("launch", "stop", "edit", "subscribe"):
        answer = browser.submit(base, f"{base}/{campaign.id}/{action}", {"mode": "contact"})
        assert answer.status_code == 403, action
    assert browser.submit(base, f"{base}/new", _drip_fields("Sneaky")).status_code == 403
    assert (await campaigns.get_campaign(db, org.org_id, campaign.id)).state.value == "draft"


async def test_another_organizations_campaign_urls_are_not_found(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    mine = await make_org(name="Mine")
    theirs = await make_org(name="Theirs")
    campaign = await campaigns.create_campaign(
        db, clock, theirs.org_id, {"name": "Theirs", "kind": "blast", "steps": [{"message": "x"}]}
    )
    person = await make_person(db, clock, mine.org_id, Role.OWNER)
    browser = open_console()
    browser.sign_in(person)
    for url in (
        f"/orgs/{theirs.org_id}/campaigns",
        f"/orgs/{theirs.org_id}/campaigns/{campaign.id}",
        f"/orgs/{mine.org_id}/campaigns/{campaign.id}",
        f"/orgs/{mine.org_id}/campaigns/{campaign.id}/edit",
        f"/orgs/{mine.org_id}/campaigns/{campaign.id}/answers.csv",
    ):
        assert browser.page(url).status_code == 404, url
    mine_base = f"/orgs/{mine.org_id}/campaigns"
    answer = browser.submit(mine_base, f"{mine_base}/{campaign.id}/launch", {})
    assert answer.status_code == 404
    assert (await campaigns.get_campaign(db, theirs.org_id, campaign.id)).state.value == "draft"


async def test_a_group_and_a_contact_are_subscribed_and_the_report_and_schedule_show_them(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org, browser = await _editor_of(db, clock, make_org, open_console)
    group = await contacts.create_group(db, clock, org.org_id, "Farmers")
    numbers = ["639171239101", "639171239102", "639171239103", "639171239104"]
    made = [
        await contacts.create_contact(
            db,
            clock,
            org.org_id,
            phones.normalise_full_number(n),
            ContactInput(first_name="Ana", groups=[group.id] if i != 2 else []),
        )
        for i, n in enumerate(numbers)
    ]
    async with db.write() as conn:
        await reply_store.record_opt_out(conn, org.org_id, numbers[3], "STOP", clock.now())
    steps = [
        {
            "delay": {"unit": "day", "value": 7, "time": "09:00", "country": "PH"},
            "message": "Q1?",
            "choices": ["YES", "NO"],
        },
    ]
    campaign = await campaigns.create_campaign(
        db, clock, org.org_id, {"name": "Poll", "kind": "poll", "steps": steps}
    )
    await campaigns.launch_campaign(db, clock, org.org_id, campaign.id)
    url = f"/orgs/{org.org_id}/campaigns/{campaign.id}"
    grouped = browser.submit(url, f"{url}/subscribe", {"mode": "group", "group": str(group.id)})
    assert grouped.status_code == 303
    said = browser.page(grouped.headers["location"]).text
    assert "2 contacts subscribed. 1 left out: their numbers opted out" in said
    again = browser.submit(url, f"{url}/subscribe", {"mode": "group", "group": str(group.id)})
    said = browser.page(again.headers["location"]).text
    assert "every match is subscribed already" in said
    one = browser.submit(url, f"{url}/subscribe", {"mode": "contact", "contact": "+639171239103"})
    assert f"Contact {made[2].id} is subscribed" in browser.page(one.headers["location"]).text
    bad = browser.submit(url, f"{url}/subscribe", {"mode": "filter", "conditions": "{nope"})
    assert bad.status_code == 400 and "not valid JSON" in bad.text
    counts = await campaigns.count_runs(db, campaign.id)
    assert sum(counts.values()) == 3
    page = browser.page(url)
    assert "Runs by status" in page.text and "Answers to question 1" in page.text
    found = browser.page(f"{url}?find=9102")
    assert f"(ID {made[1].id})" in found.text
    schedule = browser.page(f"{url}?contact={made[0].id}")
    assert re.search(r"Run \d+ of contact \d+ is active", schedule.text)
    assert "+08:00" in schedule.text
    preview = browser.page(f"{url}?contact={made[3].id}")
    assert "is not subscribed to this campaign. Subscribed now (time zone Asia/Manila)" in (
        preview.text
    )
    assert "T09:00:00+08:00" in preview.text
    assert browser.page(f"{url}?contact=999999999").status_code == 404
    csv = browser.page(f"{url}/answers.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.startswith("runId,contactId,question")


async def test_the_list_shows_25_campaigns_a_page_newest_first(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    for n in range(26):
        await campaigns.create_campaign(
            db,
            clock,
            org.org_id,
            {"name": f"C{n:02d}", "kind": "blast", "steps": [{"message": "x"}]},
        )
    viewer = await make_person(db, clock, org.org_id, Role.VIEWER)
    browser = open_console()
    browser.sign_in(viewer)
    base = f"/orgs/{org.org_id}/campaigns"
    first = browser.page(base).text
    assert "26 campaigns, newest first" in first and "C25" in first and "C01" in first
    assert "C00" not in first and 'href="?page=2"' in first
    second = browser.page(f"{base}?page=2").text
    assert "C00" in second and "C01" not in second and 'href="?page=1"' in second
    assert "C00" not in browser.page(f"{base}?page=99999999999999999999").text
