"""The bot in German, French and Spanish: every marked text in every catalogue, commands synced
with their translations, and replies in the member's (or the server's) language."""

from __future__ import annotations

import asyncio
import os
import string
from pathlib import Path
from typing import Any

import discord
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from bot.core.models import JobState
from bot.discord_bot import RECOVERY_COG
from cogs._command_translator import is_valid_name
from cogs._i18n import (
    LOCALES_DIR,
    MissingTranslation,
    _,
    catalogues,
    language_for,
    using_locale,
)
from cogs._render import chart_words
from tests.fakes.discord_harness import message_command, message_create, modal_submit
from tests.fakes.fake_vibedream import Outcome
from tests.test_limits import MANAGE_SERVER
from tests.test_remix_routes import post_image
from tests.test_restart import button_ids, click
from tests.world import GENERAL, GUILD_ID, MOD_LOG, World, bot_world, started_fakes

ROOT = Path(__file__).parent.parent
LANGUAGES = ("de", "fr", "es")
Key = tuple[str | None, str]  # a catalogue entry: its context and its English text


def marked_texts() -> set[Key]:
    """Every text marked in bot/ and cogs/, found as `pybabel extract -F babel.cfg
    --ignore-dirs ".* __pycache__"` finds it."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)

    def wanted(path: str) -> bool:
        name = os.path.basename(path)
        return not name.startswith(".") and name != "__pycache__"

    found = extract_from_dir(ROOT, method_map, options_map, directory_filter=wanted)
    return {(context, message) for _, _, message, _, context in found if isinstance(message, str)}


def placeholders(text: str) -> list[tuple[str, str | None]]:
    return sorted((name, spec) for _, name, spec, _ in string.Formatter().parse(text) if name)


def test_the_template_holds_every_marked_text() -> None:
    """bot.pot is what translators start from: it must be the extraction of today's code."""
    with (LOCALES_DIR / "bot.pot").open("rb") as file:
        template = {(entry.context, entry.id) for entry in read_po(file) if entry.id}
    assert template == marked_texts()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_marked_text_is_translated(language: str) -> None:
    """A non-empty, confirmed translation of every text, with the same {places} to fill."""
    catalogue = catalogues()[language]
    for context, text in sorted(marked_texts(), key=str):
        entry = catalogue.get(text, context=context)
        assert entry is not None and isinstance(entry.string, str) and entry.string, text
        assert not entry.fuzzy, text
        assert placeholders(entry.string) == placeholders(text), text


@pytest.mark.parametrize("language", LANGUAGES)
def test_translated_names_follow_discords_rules(language: str) -> None:
    """Command and option names lowercase, without spaces, at most 32 characters."""
    for entry in catalogues()[language]:
        if entry.context in ("command", "option"):
            assert isinstance(entry.string, str) and is_valid_name(entry.string), entry.string
        if entry.context == "context menu":
            assert isinstance(entry.string, str) and 1 <= len(entry.string) <= 32


def test_discord_locales_find_their_catalogue() -> None:
    assert [language_for(locale) for locale in ("de", "fr", "es-ES", "es-419")] == [
        "de",
        "fr",
        "es",
        "es",
    ]
    assert language_for("en-US") == language_for("ja") == language_for(None) == "en"


def test_a_text_no_catalogue_has_fails_under_the_tests() -> None:
    """Strict mode: showing a text that was never marked (so never translated) raises."""
    with pytest.raises(MissingTranslation):
        _("A sentence nobody marked for translation.")


def _command(world: World, name: str, kind: int = 1) -> dict[str, Any]:
    synced = [command for commands in world.discord.commands.values() for command in commands]
    return next(c for c in synced if c["name"] == name and c["type"] == kind)


def _option(command: dict[str, Any], name: str) -> dict[str, Any]:
    return next(option for option in command["options"] if option["name"] == name)


async def test_commands_are_synced_with_their_translations(world: World) -> None:
    """Names, descriptions, options and choices carry German, French and Spanish versions;
    English stays the default."""
    imagine = _command(world, "imagine")
    assert imagine["name_localizations"] == {
        "de": "bild",
        "fr": "imaginer",
        "es-ES": "imaginar",
        "es-419": "imaginar",
    }
    assert imagine["description_localizations"]["de"].startswith("Erzeuge ein Bild")
    assert imagine["description_localizations"]["fr"].startswith("Crée une image")
    prompt = _option(imagine, "prompt")
    assert prompt["name_localizations"]["de"] == "beschreibung"
    assert prompt["description_localizations"]["fr"] == "Ce qu'il faut dessiner, avec tes mots"
    [square] = [c for c in _option(imagine, "size")["choices"] if c["value"] == "1024*1024"]
    assert square["name_localizations"]["de"] == "Quadrat 1024×1024"
    assert square["name_localizations"]["fr"] == "Carré 1024×1024"

    limits = _command(world, "limits")
    assert limits["name_localizations"]["fr"] == "limites"
    settings = _option(limits, "set")
    assert settings["name_localizations"]["de"] == "festlegen"
    assert _option(settings, "timezone")["name_localizations"]["fr"] == "fuseau_horaire"

    menu = _command(world, "Imagine from image", kind=3)
    assert menu["name_localizations"]["de"] == "Aus Bild erzeugen"


async def test_imagine_in_german_shows_german_progress_and_result(world: World) -> None:
    """Progress line, result details, cost and buttons in German."""
    world.api.plan(Outcome(generation_time=2.5, estimated_time="2-3s"))
    record = await world.command("imagine", prompt="a kite", size="512*512", locale="de")
    message = await world.settled(record, within=15)

    progress = [
        request.json["content"]
        for request in world.discord.requests
        if request.route.startswith("PATCH /webhooks/") and request.route.endswith("@original")
    ][:-1]
    assert progress and all(line.startswith("🎨 Wird erzeugt…") for line in progress)
    embed = message.embeds[0]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert set(fields) == {"Größe", "Format", "Seed", "Dauer", "Kosten"}
    assert fields["Kosten"] == "0,01\xa0$"  # German figures: decimal comma, currency after
    assert embed["footer"]["text"].startswith("Auftrag ")
    assert list(button_ids(message))[:2] == ["Variieren (leicht)", "Variieren (stark)"]


async def test_a_blocked_word_is_refused_in_french(world: World) -> None:
    await world.bot.services.policy.set_term_blocked(GUILD_ID, "kite", True)
    record = await world.command("imagine", prompt="a red kite", locale="fr")
    answer = await world.answered(record)
    assert answer["flags"] & 64
    assert answer["content"] == "Ton prompt contient « kite », que ce serveur a bloqué."
    assert world.api.requests["submit"] == 0


async def test_a_limit_is_refused_in_french_with_its_reset(tmp_path: Path) -> None:
    async with (
        started_fakes() as (fake_api, fake_discord),
        bot_world(tmp_path, fake_api, fake_discord, default_user_daily_images=1) as world,
    ):
        await world.settled(await world.command("imagine", prompt="one", locale="fr"))
        answer = await world.answered(await world.command("imagine", prompt="two", locale="fr"))
        assert answer["content"].startswith("Tu as utilisé tes 1 images du jour sur ce serveur.")
        assert " Remise à zéro <t:" in answer["content"]
        assert fake_api.requests["submit"] == 1


async def test_a_button_answers_in_the_clickers_language(world: World) -> None:
    """Details, clicked by a member whose Discord is in French, even under an English result."""
    result = await world.settled(await world.imagine(prompt="a kite", size="512*512"))
    details = await click(world, result.id, button_ids(result)["Details"], locale="fr")
    assert details.response_data is not None
    embed = details.response_data["embeds"][0]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields["Taille"] == "512×512" and fields["État"] == "terminée"
    assert embed["title"].startswith("Tâche ")


async def test_the_remix_form_and_its_refusal_in_spanish(world: World) -> None:
    target = await post_image(world)
    opened = await message_command(
        world.bot, world.discord, "Imagine from image", target, locale="es-ES"
    )
    await world.discord.wait_for(lambda: opened.acknowledged)
    assert opened.response_data is not None
    assert opened.response_data["title"] == "Imaginar desde imagen"
    submitted = await modal_submit(
        world.bot, world.discord, opened, {"prompt": "en neón", "strength": "7"}
    )
    await world.discord.wait_for(lambda: submitted.acknowledged)
    assert submitted.response_data is not None
    assert submitted.response_data["content"].startswith("La intensidad va de 0 a 1")
    assert world.api.requests["submit"] == 0


async def test_a_mention_is_answered_in_the_servers_language(tmp_path: Path) -> None:
    async with (
        started_fakes() as (fake_api, fake_discord),
        bot_world(tmp_path, fake_api, fake_discord, guild_locale="de") as world,
    ):
        assert world.bot.user is not None
        await message_create(
            world.bot,
            fake_discord,
            f"<@{world.bot.user.id}> make it a watercolour",
            channel_id=GENERAL,
            guild_id=GUILD_ID,
        )

        def hint() -> list[str]:
            bot_id = str(fake_discord.bot_user["id"])
            return [
                message.content
                for message in fake_discord.messages.values()
                if message.author["id"] == bot_id
            ]

        [reply] = await fake_discord.wait_for(hint)
        assert (
            reply
            == "❌ Antworte auf eine Nachricht mit Bild (oder hänge eins an) oder nutze /imagine."
        )


async def test_jobs_recovered_after_a_restart_speak_the_servers_language(tmp_path: Path) -> None:
    """Stopped with one job generating and one queued, the next start tells the queued one, in
    the server's German, that nothing was charged, and delivers the other with German details.
    (Their members' Discord was in English: nobody is there to say otherwise.)"""
    async with started_fakes() as (fake_api, fake_discord):
        async with bot_world(
            tmp_path, fake_api, fake_discord, guild_locale="de", generation_concurrency=1
        ) as first:
            fake_api.generation_time = 2.0
            running = await first.imagine(prompt="running")
            await fake_discord.wait_for(lambda: fake_api.predictions)
            queued = await first.imagine(prompt="queued")
            await fake_discord.wait_for(lambda: fake_discord.interaction_original(queued.id))
            await first.bot.shutdown(grace_seconds=0.2)
            states = sorted(job.state for job in await first.database.jobs_in_flight())
            assert states == sorted([JobState.SUBMITTED, JobState.RESERVED])

        async with bot_world(tmp_path, fake_api, fake_discord, guild_locale="de") as second:
            for _ in range(200):  # recovery runs in the background; give it up to 10 s
                if not await second.database.undelivered_jobs(since=0):
                    break
                await asyncio.sleep(0.05)
            told = fake_discord.interaction_original(queued.id)
            delivered = fake_discord.interaction_original(running.id)
            assert told is not None and "es wurde nichts berechnet" in told.content
            assert delivered is not None and delivered.attachments
            assert delivered.embeds[0]["fields"][0]["name"] == "Größe"


async def test_recovery_asks_for_a_server_the_gateway_has_not_sent_yet(world: World) -> None:
    """The first sweep runs before any server arrives: its language is fetched instead, and a
    server Discord does not know is answered in English."""
    recovery: Any = world.bot.get_cog(RECOVERY_COG)  # the extension's own module, reloaded
    elsewhere = 400_000_000_000_000_777
    assert world.bot.get_guild(elsewhere) is None
    french = {**world.discord.guilds[GUILD_ID], "id": str(elsewhere), "preferred_locale": "fr"}
    world.discord.add_guild(french)
    assert await recovery._guild_locale(elsewhere) is discord.Locale.french
    assert await recovery._guild_locale(400_000_000_000_000_778) is None


async def test_server_usage_in_german_down_to_the_chart(world: World) -> None:
    """/usage server=True for a German moderator: the embed and the chart's own words."""
    await world.settled(await world.imagine(prompt="a kite"))
    with using_locale("de"):
        words = chart_words()
    assert (words.images, words.months[2]) == ("Bilder pro Tag", "Mär")
    record = await world.command("usage", permissions=MANAGE_SERVER, server=True, locale="de")
    [embed] = (await world.answered(record))["embeds"]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert embed["title"] == "Verbrauch dieses Servers"
    assert fields["Insgesamt"] == "1 Bilder · 0,01\xa0$"
    assert embed["image"]["url"] == "attachment://usage.png"


async def test_the_moderation_log_speaks_the_servers_language(tmp_path: Path) -> None:
    """An English-speaking member's result stays English; its log entry is in the server's
    French, for the moderators who read it."""
    async with (
        started_fakes() as (fake_api, fake_discord),
        bot_world(tmp_path, fake_api, fake_discord, guild_locale="fr") as world,
    ):
        await world.bot.services.policy.update_settings(GUILD_ID, {"log_channel_id": MOD_LOG})
        result = await world.settled(await world.imagine(prompt="a kite"))
        assert result.embeds[0]["fields"][0]["name"] == "Size"
        [entry] = await fake_discord.wait_for(lambda: fake_discord.messages_in(MOD_LOG))
        assert entry.embeds[0]["title"] == "Image créée"
        assert [field["name"] for field in entry.embeds[0]["fields"]][:2] == ["Membre", "Salon"]
