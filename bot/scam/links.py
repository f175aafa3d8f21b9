"""Find links in a message and judge their domains. Links are parsed, never opened or fetched.

The public suffix list is tldextract's snapshot bundled with the package: the extractor is built
with no suffix-list URLs and no cache directory, so it never touches the network or the disk.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.engine.matching import fold
from bot.scam.domains import (
    APP_STORE_HOSTS,
    BARE_DOMAIN_TLDS,
    BRANDS,
    GOVERNMENT_SUFFIX,
    GOVERNMENT_WORDS,
    OFFICIAL_DOMAINS,
    SAFETY_SITES,
    SHORTENERS,
    UNUSUAL_TLDS,
    Brand,
)

if TYPE_CHECKING:
    import tldextract


@functools.cache
def extractor() -> tldextract.TLDExtract:
    """tldextract on its bundled public suffix snapshot only: no download, no cache files.

    Imported and built on the first link checked: tldextract (with requests) and its suffix
    list cost some 6 MB in every process, and most turns carry no link.
    """
    import tldextract

    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


# --- Undoing the tricks that hide a link from filters ("hxxp", "[.]", "bank . top") ---------

_SPACED_TLDS = "|".join(sorted(BARE_DOMAIN_TLDS, key=len, reverse=True))
_DEFANG = (
    (re.compile(r"\bh(?:xx|\*\*|tt)p(s?)\s*(?:\[:\]|:)\s*//", re.IGNORECASE), r"http\1://"),
    (re.compile(r"\s*(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\})\s*", re.IGNORECASE), "."),
    # "bank-x dot top", "bank-x . top", "bank-x .top": a dot with spaces, before a known ending.
    (
        re.compile(rf"(?<=[A-Za-z0-9-])(?:\s+dot\s+|\s+\.\s*|\.\s+)(?=(?:{_SPACED_TLDS})\b)"),
        ".",
    ),
)


def defang(text: str) -> str:
    """Turn obfuscated links back into plain ones: 'hxxp://bank-x[.]top' -> 'http://bank-x.top'."""
    for pattern, replacement in _DEFANG:
        text = pattern.sub(replacement, text)
    return text


# --- Finding links --------------------------------------------------------------------------

_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_LINK = re.compile(
    rf"(?<![\w@.-])(?:"
    rf"(?P<url>(?:https?|ftp)://[^\s<>\"'“”]+)"
    rf"|(?P<bare>(?:{_LABEL}\.)+{_LABEL}(?::\d{{1,5}})?(?:[/?#][^\s<>\"'“”]*)?)"
    rf")",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}'\"»”’…"
_APK = re.compile(r"[\w-]+\.apk\b", re.IGNORECASE)
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
        "ј": "j", "ԁ": "d", "ѕ": "s", "ɡ": "g", "ո": "n", "ⅼ": "l", "ı": "i", "ο": "o",
        "α": "a", "ν": "v", "τ": "t", "κ": "k",
    }
)  # fmt: skip
_LEET = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a"})


@dataclass(frozen=True)
class Link:
    """One link found in a message, split into its parts."""

    text: str
    """As written (after undoing obfuscation), e.g. 'vbank-xacminh.top/login'."""
    start: int
    end: int
    host: str
    """Lower-case host name, e.g. 'm.vbank-xacminh.top' (IDN hosts decoded to Unicode)."""
    domain: str
    """The registrable domain, e.g. 'vbank-xacminh.top'; the IP address for an IP link."""
    suffix: str
    """The public suffix, e.g. 'top', 'com.vn', 'gov.vn'; empty for an IP link."""
    subdomain: str
    userinfo: str
    """What comes before '@' in 'http://vietcombank.com.vn@bad.top' (a disguise)."""
    is_ip: bool

    @property
    def tld(self) -> str:
        return self.suffix.rsplit(".", 1)[-1]

    @property
    def official(self) -> Brand | None:
        return OFFICIAL_DOMAINS.get(self.domain)

    @property
    def is_government(self) -> bool:
        return self.suffix == GOVERNMENT_SUFFIX or (
            self.official is not None and self.official.kind == "government"
        )

    @property
    def is_trusted(self) -> bool:
        """A real government, bank, service or app-store site, or the official scam checker."""
        return (
            self.is_government
            or self.official is not None
            or self.host in APP_STORE_HOSTS
            or self.domain in SAFETY_SITES
        )

    @property
    def is_shortener(self) -> bool:
        return self.domain in SHORTENERS or self.host in SHORTENERS

    @property
    def has_unusual_tld(self) -> bool:
        return not self.is_ip and self.tld in UNUSUAL_TLDS


def _host_of(candidate: str) -> tuple[str, str] | None:
    """(host, userinfo) of a URL or bare domain, or None when it has no usable host."""
    url = candidate if "://" in candidate else f"http://{candidate}"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return None
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if host.startswith("xn--") or ".xn--" in host:
        with contextlib.suppress(UnicodeError):
            host = host.encode("ascii").decode("idna")
    return host.rstrip("."), userinfo


def parse_link(candidate: str, start: int = 0, *, bare: bool = False) -> Link | None:
    """Split one candidate into a Link, or None when it is not a web address (e.g. '2.350.000',
    'v.v', 'TP.HCM'). A bare candidate (no http://) must also have a believable ending."""
    found = _host_of(candidate)
    if found is None:
        return None
    host, userinfo = found
    if not host:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return Link(candidate, start, start + len(candidate), host, host, "", "", userinfo, True)
    parts = extractor()(host)
    if not parts.suffix or not parts.domain:
        return None
    if bare:
        ascii_suffix = parts.suffix.isascii()
        believable = parts.suffix.endswith("vn") or parts.suffix in BARE_DOMAIN_TLDS
        if not ascii_suffix or not believable or len(parts.domain) < 2:
            return None
    return Link(
        text=candidate,
        start=start,
        end=start + len(candidate),
        host=host,
        domain=f"{parts.domain}.{parts.suffix}",
        suffix=parts.suffix,
        subdomain=parts.subdomain,
        userinfo=userinfo,
        is_ip=False,
    )


def find_links(text: str) -> list[Link]:
    """Every web address in text that has already been through `defang`, in order."""
    links: list[Link] = []
    for match in _LINK.finditer(text):
        candidate = match.group(0).rstrip(_TRAILING)
        if not candidate:
            continue
        bare = match.group("bare") is not None and not candidate.lower().startswith("www.")
        if bare and match.start() > 0 and text[match.start() - 1] == "@":
            continue  # an e-mail address
        link = parse_link(candidate, match.start(), bare=bare)
        if link is not None:
            links.append(link)
    return links


def find_apk_files(text: str) -> list[str]:
    """Android install files named in the text ('etax-moi.apk')."""
    return [match.group(0) for match in _APK.finditer(text)]


# --- Look-alikes ----------------------------------------------------------------------------


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
    neighbouring letters each cost 1 ('vietcombnak' is 1 from 'vietcombank')."""
    if a == b:
        return 0
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def _skeleton(label: str) -> str:
    """What a label looks like to a reader: Cyrillic look-alikes and accents removed."""
    label = unicodedata.normalize("NFKC", label).translate(_CONFUSABLES)
    return fold(label).replace(" ", "")


def _words(label: str) -> list[str]:
    return [word for word in re.split(r"[-_.]+", label) if word]


def _resembles(word: str, token: str) -> bool:
    """A word of a domain that is, or nearly is, a brand's name."""
    if word == token:
        return True
    if len(token) < 5:
        return False  # 'acb', 'evn': too short to judge by spelling
    if token in word:
        return True  # 'vietcombankonline'
    limit = 1 if len(token) <= 7 else 2
    return abs(len(word) - len(token)) <= limit and edit_distance(word, token) <= limit


def imitated_brand(link: Link) -> Brand | None:
    """The brand a link pretends to be, when it is not that brand's real site.

    Checks the domain's words and subdomain ('vietcombank.com.vn.xacminh.top'), spelling slips
    ('vietcombnak.com'), digits for letters ('faceb00k'), Cyrillic letters ('vіetcombank'), and
    a real domain put before '@' ('http://vcb.com.vn@bad.top' goes to bad.top).
    """
    if link.is_ip:
        return _brand_in(link.userinfo)
    if link.is_trusted:
        return None
    names = link.host.removesuffix("." + link.suffix) if link.suffix else link.host
    words: list[str] = []
    for word in _words(names):
        skeleton = _skeleton(word)
        words.extend({skeleton, skeleton.translate(_LEET), word.translate(_LEET)})
    for brand in BRANDS:
        if brand.kind == "store":
            continue  # 'google' or 'apple' in a name is too common to judge
        for token in brand.tokens:
            if any(_resembles(word, token) for word in words):
                return brand
    return _brand_in(link.userinfo)


def _brand_in(userinfo: str) -> Brand | None:
    lowered = userinfo.lower()
    if not lowered:
        return None
    for brand in BRANDS:
        if any(domain in lowered for domain in brand.domains) or any(
            len(token) >= 5 and token in lowered for token in brand.tokens
        ):
            return brand
    return None


def dresses_as_government(link: Link) -> bool:
    """A domain with official-sounding words that is not *.gov.vn ('dichvucong-gov.vn')."""
    if link.is_ip or link.is_government:
        return False
    names = link.host.removesuffix("." + link.suffix)
    words = [_skeleton(word) for word in _words(names)]
    compact = "".join(words)
    return any(word in GOVERNMENT_WORDS for word in words) or any(
        len(token) >= 5 and token in compact for token in GOVERNMENT_WORDS
    )
