"""The 2025 provinces: the data follows Resolution 202/2025/QH15; any name finds its unit."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bot.engine.matching import fold
from bot.provinces import Province, by_code, find, provinces, suggest

# The 63 former units and the new unit each became part of, written out independently of
# provinces.yaml so that a slip in the data shows up here.
FORMER = {
    "Hà Nội": "ha-noi",
    "Thừa Thiên Huế": "hue",
    "Lai Châu": "lai-chau",
    "Điện Biên": "dien-bien",
    "Sơn La": "son-la",
    "Lạng Sơn": "lang-son",
    "Quảng Ninh": "quang-ninh",
    "Thanh Hóa": "thanh-hoa",
    "Nghệ An": "nghe-an",
    "Hà Tĩnh": "ha-tinh",
    "Cao Bằng": "cao-bang",
    "Hà Giang": "tuyen-quang",
    "Tuyên Quang": "tuyen-quang",
    "Lào Cai": "lao-cai",
    "Yên Bái": "lao-cai",
    "Thái Nguyên": "thai-nguyen",
    "Bắc Kạn": "thai-nguyen",
    "Phú Thọ": "phu-tho",
    "Vĩnh Phúc": "phu-tho",
    "Hòa Bình": "phu-tho",
    "Bắc Ninh": "bac-ninh",
    "Bắc Giang": "bac-ninh",
    "Hưng Yên": "hung-yen",
    "Thái Bình": "hung-yen",
    "Hải Phòng": "hai-phong",
    "Hải Dương": "hai-phong",
    "Ninh Bình": "ninh-binh",
    "Hà Nam": "ninh-binh",
    "Nam Định": "ninh-binh",
    "Quảng Trị": "quang-tri",
    "Quảng Bình": "quang-tri",
    "Đà Nẵng": "da-nang",
    "Quảng Nam": "da-nang",
    "Quảng Ngãi": "quang-ngai",
    "Kon Tum": "quang-ngai",
    "Gia Lai": "gia-lai",
    "Bình Định": "gia-lai",
    "Khánh Hòa": "khanh-hoa",
    "Ninh Thuận": "khanh-hoa",
    "Lâm Đồng": "lam-dong",
    "Đắk Nông": "lam-dong",
    "Bình Thuận": "lam-dong",
    "Đắk Lắk": "dak-lak",
    "Phú Yên": "dak-lak",
    "Hồ Chí Minh": "ho-chi-minh",
    "Bình Dương": "ho-chi-minh",
    "Bà Rịa–Vũng Tàu": "ho-chi-minh",
    "Đồng Nai": "dong-nai",
    "Bình Phước": "dong-nai",
    "Tây Ninh": "tay-ninh",
    "Long An": "tay-ninh",
    "Cần Thơ": "can-tho",
    "Sóc Trăng": "can-tho",
    "Hậu Giang": "can-tho",
    "Vĩnh Long": "vinh-long",
    "Bến Tre": "vinh-long",
    "Trà Vinh": "vinh-long",
    "Đồng Tháp": "dong-thap",
    "Tiền Giang": "dong-thap",
    "Cà Mau": "ca-mau",
    "Bạc Liêu": "ca-mau",
    "An Giang": "an-giang",
    "Kiên Giang": "an-giang",
}
CITIES = {"ha-noi", "hai-phong", "hue", "da-nang", "ho-chi-minh", "can-tho"}


def code_of(text: str) -> str | None:
    province = find(text)
    return province.code if province else None


def test_the_former_list_itself_has_63_names_and_34_units() -> None:
    assert len(FORMER) == 63
    assert len(set(FORMER.values())) == 34


def test_34_units_of_which_6_cities() -> None:
    units = provinces()
    assert len(units) == 34
    assert {unit.code for unit in units if unit.kind == "city"} == CITIES
    assert {unit.kind for unit in units} == {"city", "province"}


def test_codes_are_unique_ascii_slugs() -> None:
    codes = [unit.code for unit in provinces()]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", code) for code in codes)
    assert set(codes) == set(FORMER.values())


def test_every_former_unit_appears_exactly_once() -> None:
    counts = Counter(fold(name) for unit in provinces() for name in unit.merged_from)
    assert counts == Counter(fold(name) for name in FORMER)


def test_each_unit_merged_from_the_right_former_units() -> None:
    for unit in provinces():
        expected = {fold(name) for name, code in FORMER.items() if code == unit.code}
        assert {fold(name) for name in unit.merged_from} == expected, unit.code


def test_by_code() -> None:
    hcm = by_code("ho-chi-minh")
    assert hcm is not None
    assert hcm.vi == "Hồ Chí Minh"
    assert hcm.en == "Ho Chi Minh City"
    assert by_code("binh-duong") is None


def test_name_by_locale() -> None:
    hanoi = by_code("ha-noi")
    assert isinstance(hanoi, Province)
    assert hanoi.name("vi") == "Hà Nội"
    assert hanoi.name("en") == "Hanoi"


def test_provinces_is_stable_and_cached() -> None:
    assert provinces() is provinces()
    assert provinces()[0].code == "ha-noi"


@pytest.mark.parametrize(("name", "code"), sorted(FORMER.items()))
def test_every_former_name_finds_its_new_unit(name: str, code: str) -> None:
    assert code_of(name) == code
    assert code_of(fold(name)) == code  # typed without accents


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Bình Dương", "ho-chi-minh"),
        ("binh duong", "ho-chi-minh"),
        ("Bà Rịa - Vũng Tàu", "ho-chi-minh"),
        ("ba ria vung tau", "ho-chi-minh"),
        ("Quảng Nam", "da-nang"),
        ("Hà Giang", "tuyen-quang"),
        ("Thừa Thiên Huế", "hue"),
        ("Thua Thien Hue", "hue"),
        ("Kon Tum", "quang-ngai"),
        ("Bến Tre", "vinh-long"),
    ],
)
def test_old_names(text: str, code: str) -> None:
    assert code_of(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Hà Nội", "ha-noi"),
        ("HUẾ", "hue"),
        ("hue", "hue"),
        ("Đà Nẵng", "da-nang"),
        ("  nghe   an  ", "nghe-an"),
        ("ho-chi-minh", "ho-chi-minh"),
    ],
)
def test_new_names(text: str, code: str) -> None:
    assert code_of(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("TP.HCM", "ho-chi-minh"),
        ("tphcm", "ho-chi-minh"),
        ("tp hcm", "ho-chi-minh"),
        ("Sài Gòn", "ho-chi-minh"),
        ("saigon", "ho-chi-minh"),
    ],
)
def test_aliases(text: str, code: str) -> None:
    assert code_of(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Tỉnh Nghệ An", "nghe-an"),
        ("tinh nghe an", "nghe-an"),
        ("thanh pho can tho", "can-tho"),
        ("Thành phố Huế", "hue"),
        ("TP. Hồ Chí Minh", "ho-chi-minh"),
        ("tp da nang", "da-nang"),
        ("Tỉnh Hà Tĩnh", "ha-tinh"),
        ("Nghe An province", "nghe-an"),
        ("city of Hue", "hue"),
    ],
)
def test_prefixes_are_ignored(text: str, code: str) -> None:
    assert code_of(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Hanoi", "ha-noi"),
        ("Ho Chi Minh City", "ho-chi-minh"),
        ("Hue", "hue"),
        ("Da Nang", "da-nang"),
        ("Danang", "da-nang"),
        ("Hai Phong", "hai-phong"),
        ("Can Tho", "can-tho"),
    ],
)
def test_english_names(text: str, code: str) -> None:
    assert code_of(text) == code


@pytest.mark.parametrize("text", ["", "   ", "tỉnh", "Paris", "xyz", "nghe", "🚫"])
def test_unknown_text_finds_nothing(text: str) -> None:
    assert find(text) is None


def test_long_input_finds_nothing() -> None:
    text = "Hà Nội" + " " * 100
    assert len(text) > 100
    assert find(text) is None
    assert suggest(text) == []


@pytest.mark.parametrize("text", ["nghe ann", "Nge An", "Nghê Ân", "nghean n"])
def test_suggest_puts_the_closest_first(text: str) -> None:
    found = suggest(text)
    assert found
    assert found[0].code == "nghe-an"


def test_suggest_knows_old_names_and_has_no_duplicates() -> None:
    found = suggest("binh duongg")
    assert found[0].code == "ho-chi-minh"
    codes = [unit.code for unit in suggest("quang")]
    assert len(codes) == len(set(codes))


def test_suggest_respects_the_limit() -> None:
    assert len(suggest("quang nga", limit=2)) <= 2
    assert suggest("nghe ann", limit=0) == []


@pytest.mark.parametrize("text", ["xyzxyz qqq", "", "tp", "zzzz"])
def test_suggest_gibberish_gives_nothing(text: str) -> None:
    assert suggest(text) == []
