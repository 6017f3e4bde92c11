"""The identification pages' rules without the model: when photos disagree, the signed-out
allowance (race-safe on SQLite and PostgreSQL, per address, IPv6 by /64), HEIC conversion."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.errors import InvalidInput, UnsupportedMedia
from hortus.web.identify_agreement import PhotoVerdict, disagreement
from hortus.web.identify_photos import heif_to_jpeg, is_heif, photo_media_keys, renditions
from hortus.web.identify_store import (
    VisitorQuotaExceeded,
    address_subject,
    refund_visitor_unit,
    take_visitor_unit,
    visitor_remaining,
    visitors_account_id,
)


def test_disagreement_rule() -> None:
    daisy, daffodil = PhotoVerdict("Bellis perennis", 0.93), PhotoVerdict("Narcissus", 0.88)
    one = disagreement([daisy], 0.93)
    assert not one
    both = disagreement([daisy, daffodil], 0.35)
    assert both.different == [(0, "Bellis perennis", 0.93), (1, "Narcissus", 0.88)]
    assert both.unsure_together
    same = disagreement([daisy, PhotoVerdict("Bellis perennis", 0.7)], 0.97)
    assert not same
    # Unsure photos about different plants: their low scores already say so.
    assert not disagreement([PhotoVerdict("A", 0.4), PhotoVerdict("B", 0.3)], 0.35)
    # One confident photo, a weak fused answer.
    pulled = disagreement([PhotoVerdict("A", 0.8), PhotoVerdict("B", 0.3)], 0.38)
    assert pulled.unsure_together and not pulled.different
    # A photo that alone matches nothing, beside one that does.
    odd = disagreement([daisy, PhotoVerdict(None, 0.0, rejected=True)], 0.9)
    assert odd.no_match == [1] and not odd.different
    # All rejected alone (the whole was not): no photo stands out.
    assert not disagreement([PhotoVerdict("A", 0.2, True), PhotoVerdict("A", 0.3, True)], 0.5)


@pytest.mark.both_databases
def test_the_visitor_allowance_never_overspends_under_concurrency(settings: Settings) -> None:
    database = prepare_database(settings)
    try:
        results: list[object] = []
        start = threading.Barrier(16)

        def take() -> None:
            start.wait()
            try:
                results.append(take_visitor_unit(database=database, address="203.0.113.9",
                                                 limit=5))
            except VisitorQuotaExceeded as exc:
                results.append(exc)

        threads = [threading.Thread(target=take) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        taken = sorted(r for r in results if isinstance(r, int))
        assert taken == [0, 1, 2, 3, 4]
        assert sum(isinstance(r, VisitorQuotaExceeded) for r in results) == 11
        assert visitor_remaining(database=database, address="203.0.113.9", limit=5) == 0
        # Another address has its own; a refund gives one back, never below zero.
        assert take_visitor_unit(database=database, address="203.0.113.10", limit=5) == 4
        now = datetime.now(UTC)
        refund_visitor_unit(database=database, address="203.0.113.9", taken_at=now)
        assert visitor_remaining(database=database, address="203.0.113.9", limit=5) == 1
        # Tomorrow is a new day (and yesterday's rows are forgotten).
        tomorrow = now + timedelta(days=1)
        assert take_visitor_unit(database=database, address="203.0.113.9", limit=5,
                                 now=tomorrow) == 4
        with pytest.raises(VisitorQuotaExceeded):
            take_visitor_unit(database=database, address="203.0.113.9", limit=0)
        # The visitors' account exists once, whoever asks first.
        ids = {visitors_account_id(database=database) for _ in range(3)}
        assert len(ids) == 1
    finally:
        database.dispose()


def test_addresses_are_counted_by_host_or_ipv6_network() -> None:
    assert address_subject("2001:db8:1:2::1") == address_subject("2001:db8:1:2:ffff::9")
    assert address_subject("2001:db8:1:2::1") != address_subject("2001:db8:1:3::1")
    assert address_subject("::ffff:192.0.2.1") == address_subject("192.0.2.1")
    assert address_subject("192.0.2.1") != address_subject("192.0.2.2")
    assert len(address_subject("testclient")) == 64 and "192" not in address_subject("192.0.2.1")


def _photo(size: tuple[int, int] = (640, 480)) -> Image.Image:
    image = Image.new("RGB", size, (40, 120, 50))
    image.paste((230, 200, 40), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    return image


def _heic(image: Image.Image, **kwargs: object) -> bytes:
    import pillow_heif

    out = io.BytesIO()
    pillow_heif.from_pillow(image).save(out, quality=80, **kwargs)
    return out.getvalue()


def test_heic_is_converted_upright_and_bounded() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # taken with the phone held upright: displayed rotated 90 degrees
    data = _heic(_photo((640, 480)), exif=exif.tobytes())
    assert is_heif(data)
    jpeg = heif_to_jpeg(data, max_pixels=16_000_000)
    assert not is_heif(jpeg) and not is_heif(b"\x00\x00\x00\x1cftypqt  " + jpeg)
    converted = Image.open(io.BytesIO(jpeg))
    assert converted.format == "JPEG" and converted.size == (480, 640)
    with pytest.raises(InvalidInput, match="over this server's limit"):
        heif_to_jpeg(data, max_pixels=1000)
    with pytest.raises(UnsupportedMedia, match="cannot be read"):
        heif_to_jpeg(data[:600], max_pixels=16_000_000)


def test_copies_shown_back_are_small_upright_and_carry_no_metadata() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}  # a GPS position
    out = io.BytesIO()
    _photo((3000, 2000)).save(out, "JPEG", exif=exif)
    copies = renditions(out.getvalue())
    medium = Image.open(io.BytesIO(copies["m"]))
    assert medium.size == (853, 1280)  # upright, longest side 1280
    assert max(Image.open(io.BytesIO(copies["s"])).size) == 320
    assert not medium.getexif()  # no GPS position, no camera data
    keys = photo_media_keys("result-a", out.getvalue())
    assert keys["m"].endswith("_webm") and keys["s"].endswith("_webs")
    assert photo_media_keys("result-b", out.getvalue())["m"] != keys["m"]
