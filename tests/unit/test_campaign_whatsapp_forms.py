"""The campaign editor's form keeps a WhatsApp step as it was stored: number, message, templates
by language and File."""

from __future__ import annotations

from tambuli.web.campaign_forms import definition_of, form_from_definition

VISIT = {"name": "visit", "language": "en", "parameters": ["{{contact.firstName}}"]}
STEP = {
    "channel": "whatsapp",
    "from": "15550001234",
    "message": {"default": "Hi {{contact.firstName}}", "fil": "Kumusta"},
    "template": {
        "default": VISIT,
        "fil": {"name": "visit", "language": "fil", "parameters": ["Ka"]},
    },
    "imageFile": "poster.jpg",
}


def test_a_whatsapp_step_survives_the_form_unchanged() -> None:
    form = form_from_definition("Visits", "drip", True, {"steps": [STEP]})
    [step] = form.steps
    assert (step.channel, step.wa_from, step.template_name) == ("whatsapp", "15550001234", "visit")
    assert (step.media_kind, step.media_file) == ("image", "poster.jpg")
    assert definition_of(form)["steps"] == [STEP]


def test_a_template_only_step_has_no_message_and_one_template() -> None:
    step = {"channel": "whatsapp", "from": "15550001234", "template": VISIT}
    form = form_from_definition("Visits", "blast", True, {"steps": [step]})
    assert definition_of(form)["steps"] == [step]


def test_an_sms_step_stays_an_sms_step() -> None:
    form = form_from_definition("Tips", "drip", True, {"steps": [{"message": "Water"}]})
    assert form.steps[0].channel == "sms"
    assert definition_of(form)["steps"] == [{"message": "Water"}]
