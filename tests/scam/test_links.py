"""Links are found however they are written, split by the public suffix list, and never fetched."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.scam import links
from bot.scam.domains import BRANDS, OFFICIAL_DOMAINS, UNUSUAL_TLDS
from bot.scam.links import (
    defang,
    dresses_as_government,
    edit_distance,
    find_apk_files,
    find_links,
    imitated_brand,
    parse_link,
)


def hosts(text: str) -> list[str]:
    return [link.host for link in find_links(defang(text))]


def only(text: str) -> links.Link:
    found = find_links(defang(text))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("Vào https://vcb-xacminh.top/login ngay", "vcb-xacminh.top"),
        ("vào http://Example.COM/a?b=1.", "example.com"),
        ("xem www.abc.com.vn nhé", "www.abc.com.vn"),
        ("cập nhật tại bank-x.top", "bank-x.top"),
        ("tai vneid-capnhat.top, truoc ngay 30", "vneid-capnhat.top"),
        ("(link: bit.ly/abc123)", "bit.ly"),
        ("hxxp://bad-site.xyz/x", "bad-site.xyz"),
        ("hxxps[:]//bad-site.xyz", "bad-site.xyz"),
        ("vào vcb-xacminh[.]top nhé", "vcb-xacminh.top"),
        ("vào vcb-xacminh(.)top nhé", "vcb-xacminh.top"),
        ("vào vcb-xacminh[dot]top nhé", "vcb-xacminh.top"),
        ("vào vcb-xacminh . top nhé", "vcb-xacminh.top"),
        ("vào vcb-xacminh .top nhé", "vcb-xacminh.top"),
        ("vào vcb-xacminh. top nhé", "vcb-xacminh.top"),
        ("vào vcb-xacminh dot top nhé", "vcb-xacminh.top"),
        ("vào vietcombank . com . vn nhé", "vietcombank.com.vn"),
        ("http://185.62.10.4/fb-appeal", "185.62.10.4"),
        ("tra cứu tại thongbaorac.ais.gov.vn", "thongbaorac.ais.gov.vn"),
        ("zalo.me/0912345678", "zalo.me"),
    ],
)
def test_links_are_found_however_written(text: str, host: str) -> None:
    assert hosts(text) == [host]


@pytest.mark.parametrize(
    "text",
    [
        "Số dư: 2.350.000 VND lúc 08:15 ngày 12.03",
        "Văn phòng ở TP.HCM, Q.1",
        "mua rau, thịt, cá v.v. cho cả tuần",
        "gặp nhau lúc 8 p.m. nhé",
        "e-mail me at lan.nguyen@gmail.com",
        "ok.la, mai gặp",
        "Biển số 51G-123.45",
        "Tải file etax-moi.apk",
        "Giảm 0.5% lãi suất",
    ],
)
def test_things_that_are_not_links(text: str) -> None:
    assert hosts(text) == []


def test_a_sentence_break_is_not_a_spaced_dot() -> None:
    # A capitalised word after a full stop is a new sentence, not a domain ending.
    assert hosts("Con về rồi. Com cơm chưa mẹ?") == []
    assert hosts("I called me. Me too.") == []


def test_parts_of_a_link() -> None:
    link = only("https://m.vietcombank.com.vn.xacminh-tk.top/dang-nhap")
    assert link.host == "m.vietcombank.com.vn.xacminh-tk.top"
    assert link.domain == "xacminh-tk.top"
    assert link.suffix == "top"
    assert link.subdomain == "m.vietcombank.com.vn"
    assert link.has_unusual_tld
    assert not link.is_trusted


def test_real_sites_and_their_subdomains_are_trusted() -> None:
    for text in (
        "vietcombank.com.vn",
        "https://www.vietcombank.com.vn/vi",
        "digibank.vietcombank.com.vn",
        "tpb.vn",
        "play.google.com/store/apps/details?id=com.vneid",
        "tinnhiemmang.vn/website-lua-dao",
    ):
        link = only(text)
        assert link.is_trusted, text
        assert imitated_brand(link) is None, text


def test_every_gov_vn_site_is_government() -> None:
    for text in ("dichvucong.gov.vn", "https://thuedientu.gdt.gov.vn", "abc.xyz.gov.vn"):
        link = only(text)
        assert link.is_government
        assert link.is_trusted
        assert not dresses_as_government(link)
    assert only("chinhphu.vn").is_government  # the government portal, not under gov.vn


@pytest.mark.parametrize(
    "text",
    [
        "dichvucong-gov.vn",
        "gov-vn.com",
        "dichvucong.gov.vn.xacminh.top",
        "vneid-capnhat.top",
        "hosovuan-bocongan.top",
        "congan-tphcm.com",
    ],
)
def test_official_sounding_domains_off_gov_vn_are_disguises(text: str) -> None:
    link = only(text)
    assert not link.is_government
    brand = imitated_brand(link)
    assert dresses_as_government(link) or (brand is not None and brand.kind == "government")


@pytest.mark.parametrize(
    ("text", "brand"),
    [
        ("vietcombank-xacminh.top", "Vietcombank"),
        ("vcb-online.net", "Vietcombank"),
        ("vietcombnak.com", "Vietcombank"),  # two letters swapped
        ("vietconbank.com", "Vietcombank"),  # one letter changed
        ("vietcornbank.com", "Vietcombank"),  # 'rn' for 'm'
        ("vіetcombank.com", "Vietcombank"),  # Cyrillic 'і'
        ("xn--vetcombank-x2i.com", "Vietcombank"),  # the same, as punycode
        ("agribankk.com", "Agribank"),
        ("bidv.com.vn.secure-check.info", "BIDV"),  # the real domain as a subdomain
        ("http://vietcombank.com.vn@evil.top/login", "Vietcombank"),  # real name before '@'
        ("faceb00k-login.com", "Facebook"),  # digits for letters
        ("zalo-verify.site", "Zalo"),
        ("evn-cskh.com", "EVN"),
        ("dienluc-cskh.top", "EVN"),
        ("techcombank.vn", "Techcombank"),  # right name, wrong ending
    ],
)
def test_look_alikes_name_the_brand_they_copy(text: str, brand: str) -> None:
    link = only(text)
    found = imitated_brand(link)
    assert found is not None
    assert found.name == brand


@pytest.mark.parametrize(
    "text",
    ["vnexpress.net", "thegioididong.com", "benhvien108.vn", "acbd-shop.com", "evening.com"],
)
def test_ordinary_domains_are_not_look_alikes(text: str) -> None:
    assert imitated_brand(only(text)) is None


def test_shorteners_and_unusual_endings() -> None:
    assert only("bit.ly/abc").is_shortener
    assert only("https://tinyurl.com/x").is_shortener
    assert not only("bidv.com.vn").is_shortener
    assert {"top", "vip", "xyz"} <= UNUSUAL_TLDS  # CURRICULUM S3
    assert only("abc.vip").has_unusual_tld
    assert not only("abc.com.vn").has_unusual_tld
    assert only("http://10.0.0.1/x").is_ip


def test_apk_files_are_named() -> None:
    assert find_apk_files("tải eTaxMobile_2025.apk và etax-moi.APK") == [
        "eTaxMobile_2025.apk",
        "etax-moi.APK",
    ]


def test_parse_link_refuses_non_addresses() -> None:
    assert parse_link("localhost") is None
    assert parse_link("abc.notatld", bare=True) is None
    assert parse_link("abc.la", bare=True) is None  # a real ending, but too often a typo
    link = parse_link("http://abc.la")
    assert link is not None
    assert link.domain == "abc.la"


def test_edit_distance() -> None:
    assert edit_distance("vietcombank", "vietcombank") == 0
    assert edit_distance("vietcombnak", "vietcombank") == 1  # a swap costs one
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3


def test_the_curated_domains_are_well_formed() -> None:
    for domain, brand in OFFICIAL_DOMAINS.items():
        link = parse_link(domain)
        assert link is not None
        assert link.domain == domain, f"{domain} is not a registrable domain"
        assert brand in BRANDS


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Any attempt to resolve or connect fails the test; the suffix list is rebuilt fresh."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    links.extractor.cache_clear()
    yield attempts
    links.extractor.cache_clear()


def test_the_suffix_list_is_the_bundled_snapshot_and_nothing_is_fetched(
    no_network: list[Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Environment settings that would make a default TLDExtract download and cache the list.
    monkeypatch.setenv("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "https://publicsuffix.org/list/x")
    monkeypatch.setenv("TLDEXTRACT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    extractor = links.extractor()
    assert extractor.suffix_list_urls == ()
    assert extractor.fallback_to_snapshot
    parts = extractor("https://thongbaorac.ais.gov.vn/x")
    assert (parts.domain, parts.suffix) == ("ais", "gov.vn")
    assert only("vbank-xacminh.top").suffix == "top"
    assert no_network == []
    assert list(tmp_path.rglob("*")) == [], "tldextract wrote cache files"


def test_checking_a_message_uses_no_network(no_network: list[Any]) -> None:
    from bot.scam import check

    result = check("VCB: xac minh tai https://vcb-xacminh.top/login va http://1.2.3.4/a")
    assert result.verdict == "likely_scam"
    assert no_network == []
