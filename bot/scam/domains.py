"""Curated facts about domains: the real sites of banks, government and services, link
shorteners, and the cheap endings that scam links use. Only domains known to be real are listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BrandKind = Literal["bank", "government", "utility", "platform", "delivery", "store"]


@dataclass(frozen=True)
class Brand:
    """An organisation scammers pretend to be, its real registrable domains, and the words that
    name it inside a domain (a scam link often carries the name: vietcombank-xacminh.top)."""

    name: str
    kind: BrandKind
    domains: tuple[str, ...]
    tokens: tuple[str, ...]


BRANDS: tuple[Brand, ...] = (
    # Banks (CURRICULUM S3: fake bank SMS send look-alike links).
    Brand("Vietcombank", "bank", ("vietcombank.com.vn",), ("vietcombank", "vcb")),
    Brand("BIDV", "bank", ("bidv.com.vn",), ("bidv",)),
    Brand("Agribank", "bank", ("agribank.com.vn",), ("agribank",)),
    Brand("VietinBank", "bank", ("vietinbank.vn",), ("vietinbank",)),
    Brand("Techcombank", "bank", ("techcombank.com.vn", "techcombank.com"), ("techcombank",)),
    Brand("MB", "bank", ("mbbank.com.vn",), ("mbbank",)),
    Brand("VPBank", "bank", ("vpbank.com.vn",), ("vpbank",)),
    Brand("ACB", "bank", ("acb.com.vn",), ("acb",)),
    Brand("Sacombank", "bank", ("sacombank.com", "sacombank.com.vn"), ("sacombank",)),
    Brand("TPBank", "bank", ("tpb.vn",), ("tpbank", "tpb")),
    Brand("HDBank", "bank", ("hdbank.com.vn",), ("hdbank",)),
    Brand("VIB", "bank", ("vib.com.vn",), ("vib",)),
    Brand("Napas", "bank", ("napas.com.vn",), ("napas",)),
    # Government: every *.gov.vn site is the state's; these name the ones scammers copy.
    Brand("Ngân hàng Nhà nước", "government", ("sbv.gov.vn",), ("sbv", "nganhangnhanuoc")),
    Brand("Cổng Dịch vụ công", "government", ("dichvucong.gov.vn",), ("dichvucong",)),
    Brand("VNeID", "government", ("vneid.gov.vn",), ("vneid", "dinhdanh")),
    Brand("Bộ Công an", "government", ("bocongan.gov.vn",), ("bocongan", "congan")),
    Brand("Cơ quan Thuế", "government", ("gdt.gov.vn",), ("gdt", "etax", "thuedientu")),
    Brand("Chính phủ", "government", ("chinhphu.vn", "baochinhphu.vn"), ("chinhphu",)),
    Brand("Bảo hiểm xã hội", "government", ("baohiemxahoi.gov.vn",), ("baohiemxahoi", "bhxh")),
    # Electricity (CURRICULUM S2).
    Brand(
        "EVN",
        "utility",
        ("evn.com.vn", "evnhanoi.vn", "evnhcmc.vn", "evnspc.vn"),
        ("evn", "evnhanoi", "evnhcmc", "evnspc", "dienluc"),
    ),
    # Platforms and shops whose accounts scammers try to take over.
    Brand("Zalo", "platform", ("zalo.me", "zaloapp.com"), ("zalo",)),
    Brand("ZaloPay", "platform", ("zalopay.vn",), ("zalopay",)),
    Brand("Facebook", "platform", ("facebook.com", "fb.com", "messenger.com"), ("facebook",)),
    Brand("MoMo", "platform", ("momo.vn",), ("momo",)),
    Brand("Shopee", "platform", ("shopee.vn",), ("shopee",)),
    Brand("Lazada", "platform", ("lazada.vn",), ("lazada",)),
    Brand("Tiki", "platform", ("tiki.vn",), ("tiki",)),
    # Delivery.
    Brand("VNPost", "delivery", ("vnpost.vn",), ("vnpost",)),
    Brand("Viettel Post", "delivery", ("viettelpost.com.vn",), ("viettelpost",)),
    Brand("Giao Hàng Nhanh", "delivery", ("ghn.vn",), ("ghn",)),
    Brand("Giao Hàng Tiết Kiệm", "delivery", ("ghtk.vn",), ("ghtk",)),
    # The two official app stores (CURRICULUM 1.3, S4: install only from CH Play / App Store).
    Brand("Google", "store", ("google.com",), ("google",)),
    Brand("Apple", "store", ("apple.com", "icloud.com"), ("apple", "icloud")),
)

OFFICIAL_DOMAINS: dict[str, Brand] = {domain: brand for brand in BRANDS for domain in brand.domains}
"""Registrable domain -> the brand it belongs to."""

SAFETY_SITES = frozenset({"tinnhiemmang.vn"})
"""Official sites that learners are sent to for checking (CURRICULUM S10: NCSC's site)."""

APP_STORE_HOSTS = frozenset({"play.google.com", "apps.apple.com"})

GOVERNMENT_SUFFIX = "gov.vn"

GOVERNMENT_WORDS = (
    "gov",
    "govvn",
    "dichvucong",
    "bocongan",
    "congan",
    "chinhphu",
    "vneid",
    "dinhdanh",
    "etax",
    "thuedientu",
    "tongcucthue",
    "cucthue",
    "bhxh",
    "baohiemxahoi",
    "haiquan",
    "cancuoc",
    "cccd",
)
"""Words that make a domain look official; on anything but *.gov.vn they are a disguise."""

SHORTENERS = frozenset(
    {
        "bit.ly",
        "bitly.com",
        "tinyurl.com",
        "goo.gl",
        "t.co",
        "ow.ly",
        "is.gd",
        "v.gd",
        "rb.gy",
        "cutt.ly",
        "shorturl.at",
        "tiny.cc",
        "t.ly",
        "s.id",
        "rebrand.ly",
        "buff.ly",
        "bl.ink",
        "shorte.st",
        "adf.ly",
    }
)
"""Link shorteners: the real address is hidden until you tap."""

UNUSUAL_TLDS = frozenset(
    {
        # CURRICULUM S3 names these three for fake bank SMS.
        "top",
        "vip",
        "xyz",
        # Other cheap endings that phishing reports keep naming.
        "icu",
        "cyou",
        "click",
        "link",
        "shop",
        "online",
        "site",
        "live",
        "club",
        "buzz",
        "rest",
        "bond",
        "sbs",
        "cfd",
        "work",
        "fun",
        "pw",
        "tk",
        "ml",
        "ga",
        "cf",
        "gq",
        "monster",
        "quest",
        "win",
        "loan",
        "bid",
        "cam",
        "mom",
        "lol",
        "cc",
        "space",
        "website",
        "today",
        "best",
        "support",
    }
)
"""Endings that banks and government bodies in Vietnam do not use."""

BARE_DOMAIN_TLDS = UNUSUAL_TLDS | frozenset(
    {"com", "net", "org", "vn", "info", "biz", "io", "co", "me", "app", "ly", "gl", "at", "id"}
)
"""Endings accepted for a domain written without http:// or www. (others, such as 'la' in
'ok.la', are too often a typo'd sentence). Domains under .vn (com.vn, gov.vn ...) count too."""
