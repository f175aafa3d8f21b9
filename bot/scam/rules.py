"""The rules: phrases (folded: lower case, no accents) and link checks that raise red flags.

Patterns are written the way `fold` leaves text: 'chuyển khoản' is 'chuyen khoan', '30%' is
'30 pct'. Three things keep honest messages from tripping the rules:

- a request that is negated ('tuyệt đối không cung cấp mã OTP', 'never share this code') or
  told in the past ('ngân hàng đã gửi mã OTP') is not a request;
- a sentence that describes scammers ('kẻ gian giả danh công an ...') is a warning, not a scam;
- who a message claims to be (a bank, the police) is only context, counted with real red flags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.scam.links import (
    Link,
    dresses_as_government,
    find_apk_files,
    imitated_brand,
)
from bot.scam.text import Clause, phrases


@dataclass(frozen=True)
class Hit:
    """A rule fired: which flag, on what words, with values for its explanation."""

    code: str
    evidence: str
    params: dict[str, str] = field(default_factory=dict)


# --- Reading requests, negations and warnings --------------------------------------------------

DESCRIBES_SCAM = phrases(
    r"ke (?:gian|xau|lua dao|lua)",
    r"doi tuong (?:lua dao|xau|gia mao)",
    r"gia danh",
    r"mao danh",
    r"thu doan",
    r"canh giac",
    r"scammers?",
    r"fraudsters?",
    r"criminals",
    r"impersonat\w*",
    r"beware",
    r"be wary",
)
"""A sentence about what scammers do: its requests and threats are quoted, not made."""

WARNS = phrases(
    r"canh giac", r"thu doan", r"gia danh", r"mao danh", r"khuyen cao", r"beware", r"be wary"
)
"""Warning words proper. 'Recovery' scams talk about scammers too, so only these mark a warning
about them."""

SENTENCE_NEGATION = phrases(
    r"khong bao gio",
    r"chua bao gio",
    r"tuyet doi khong",
    r"khong ai",
    r"khong (?:he )?(?:yeu cau|hoi xin|doi)",
    r"never",
    r"no one",
    r"nobody",
    r"(?:will not|won t|does not|doesn t|do not|don t|would never|will never) (?:ask|request)",
)
"""Negations that cover the rest of their sentence ('... never asks you to share your OTP')."""

_LOCAL_NEGATION = frozenset({"khong", "chua", "cam", "not", "dont", "never", "tranh", "avoid"})
_NOT_A_NEGATION_DUNG = frozenset(
    {"su", "ung", "ap", "noi", "tin", "xay", "cong", "tieu", "nguoi", "tac", "hop", "loi"}
)
"""'dung' is 'đừng' (don't) unless it ends 'sử dụng', 'ứng dụng', 'nội dung', 'tín dụng' ..."""

_TENSE = frozenset({"da", "vua", "se", "duoc", "will", "ll", "has", "have", "had", "was"})
"""Words that make a verb a report ('đã gửi mã', 'we will send a code'), not a request."""

_IMPERATIVE = frozenset(
    {
        "vui", "long", "hay", "xin", "lam", "on", "nho", "giup", "can", "phai", "please",
        "kindly", "just", "must", "need", "to", "bac", "anh", "chi", "quy", "khach", "ban", "me",
        "bo", "co", "chu", "ong", "ba", "you", "em", "con", "chau", "roi", "va", "then", "and",
    }
)  # fmt: skip
"""Words before a verb that address the reader: 'vui lòng nhập', 'anh chị đọc', 'please send'."""

_RECIPIENT = frozenset(
    {"em", "anh", "chi", "toi", "minh", "chau", "me", "us", "lai", "shipper", "tui", "tao"}
)
"""Words after a verb that name who should get the thing: 'gửi em mã', 'send me the code'."""


def negated(clause: Clause, position: int) -> bool:
    """Whether the words before `position` negate what starts there."""
    before = clause.before(position, 4).split()
    start = max(0, len(before) - 3)
    for index in range(start, len(before)):
        word, previous = before[index], before[index - 1] if index else ""
        if word in _LOCAL_NEGATION and previous not in ("neu", "if"):
            return True  # 'không cung cấp', 'do not share'; not 'nếu không chuyển' (if not)
        if word == "dung" and index >= len(before) - 2 and previous not in _NOT_A_NEGATION_DUNG:
            return True  # 'đừng gửi'
        if word == "t" and previous == "don":
            return True  # "don't" folds to 'don t'
    return SENTENCE_NEGATION.search(clause.folded[:position]) is not None


def describes_scam(clause: Clause) -> bool:
    return DESCRIBES_SCAM.search(clause.folded) is not None


def _reported(clause: Clause, position: int) -> bool:
    """A past or future report ('đã gửi', 'vừa gửi', 'will send'), not a request."""
    return any(word in _TENSE for word in clause.before(position, 2).split())


# --- What a message asks for ----------------------------------------------------------------

_SEND_VERBS = phrases(
    r"doc(?: lai)?",
    r"gui(?: lai)?",
    r"chup(?: lai)?(?: giup \w+)?(?: anh)?(?: (?:man hinh|tin nhan))?",
    r"cung cap",
    r"chia se",
    r"dua",
    r"xin",
    r"nhan (?:cho|lai|qua)",
    r"bao (?:cho|lai)",
    r"read(?: out)?",
    r"send",
    r"give",
    r"tell",
    r"share",
    r"forward",
    r"provide",
    r"screenshot",
    r"text",
    r"reply(?: with)?",
    r"tra loi (?:kem|voi)",
)
_ENTER_VERBS = phrases(
    r"nhap", r"dien", r"go", r"khai", r"enter", r"type", r"submit", r"fill in", r"input"
)
_DESTINATION = phrases(
    r"vao (?:o|day|link|duong link|trang|website|trang web|form|muc|khung)",
    r"(?:o|khung) (?:ben )?duoi",
    r"ben duoi",
    r"tai (?:day|link|duong link|trang)",
    r"below",
    r"here",
    r"(?:on|into|in) (?:the|this) (?:page|site|link|form|box|website)",
)

OBJECTS: dict[str, re.Pattern[str]] = {
    "asks_otp": phrases(
        r"otp",
        r"ma (?:xac nhan|xac thuc|kich hoat|bao mat|giao dich|dang nhap|\d+ so|gom \d+ so)",
        r"ma (?:so(?! thue)|do|nay|vua|ay|kia)",
        r"\d+ so (?:vua|do|nay)",
        r"(?:verification |security |login |one time |\d+ digit )?codes?",
        r"passcode",
        r"one time password",
    ),
    "asks_password": phrases(
        r"mat khau",
        r"mat ma",
        r"ma pin",
        r"pin",
        r"passwords?",
        r"ten dang nhap",
        r"username",
        r"login (?:details|information)",
        r"thong tin dang nhap",
    ),
    "asks_card": phrases(
        r"so the(?! can cuoc| cccd)",
        r"the (?:tin dung|ngan hang|atm|ghi no|visa)",
        r"cvv",
        r"cvc",
        r"ma (?:cvv|cvc|bao mat (?:cua )?the)",
        r"(?:3|ba) so (?:mat sau|sau the|in sau|cuoi)",
        r"ngay het han(?: cua)?(?: the)?",
        r"card (?:number|details)",
        r"(?:credit|debit|bank) card",
        r"expiry date",
        r"security code",
    ),
    "asks_personal_id": phrases(
        r"so (?:can cuoc|cccd|cmnd|dinh danh|chung minh)",
        r"(?:the |anh )?can cuoc(?: cong dan)?",
        r"cccd",
        r"cmnd",
        r"chung minh nhan dan",
        r"anh (?:chup )?(?:2|hai) mat",
        r"(?:id|identity|citizen) (?:number|card)",
        r"national id",
    ),
}

_LOGIN = phrases(
    r"dang nhap (?:vao )?(?:tai khoan |ung dung |app )?(?:ngan hang|internet banking|\w*bank)",
    r"log ?in (?:to|with|into) (?:your )?(?:bank|banking|\w*bank)",
    r"sign in (?:to|with) (?:your )?(?:bank|banking)",
)
_WRONG_CODE = phrases(
    r"gui nham (?:ma|otp)",
    r"nham (?:ma|otp)(?: \w+){0,3} (?:vao|sang|qua) (?:may|so)",
    r"sent (?:\w+ ){0,4}codes? (?:\w+ ){0,3}by mistake",
    r"(?:dien|nhap|ghi|go|de) nham (?:so|sdt)",
    r"(?:typed|entered|put|used) (?:in )?(?:your|the wrong) number by mistake",
)
"""'I sent a code to your phone by mistake': the Zalo takeover trick."""


_NEXT_WORDS = re.compile(r"(?:\s+\S+){0,14}")
_PRONOUN = phrases(
    r"(?:it|that|this|them|no|do|ay)(?: out)?", r"(?:lai )?cho (?:em|anh|chi|toi|minh)"
)
"""'Read it to me', 'đọc cho em': the thing asked for was named in another sentence."""

_DELIVERED = re.compile(r" (?:ve|den|toi|vao) (?:may|so|dien thoai)| to your (?:phone|number)")
"""'... mã OTP về máy mẹ', '... the code to your phone': where the code goes, not who asks."""

_SCAM_PURPOSE = phrases(
    r"de (?:duoc )?(?:nhan|rut|mo khoa|xac minh|gia han|hoan thue|nang cap|tranh|khoi|kich hoat"
    r"|nhan tien|nhan qua|nhan thuong|hoan tien)",
    r"to (?:receive|claim|unlock|verify|renew|avoid|get your|upgrade|activate)",
)
"""Why a message says to type a secret: no one needs your password to give you money."""


def _requests(clause: Clause, has_untrusted_link: bool, mentions_code: bool) -> Iterable[Hit]:
    """Requests to hand over a code, a password, a card or an ID, in one clause."""
    for verbs, entering in ((_SEND_VERBS, False), (_ENTER_VERBS, True)):
        for verb in verbs.finditer(clause.folded):
            if negated(clause, verb.start()) or _reported(clause, verb.start()):
                continue
            window = _NEXT_WORDS.match(clause.folded, verb.end())
            text = window.group(0) if window else ""
            found = {code: objects.search(text) for code, objects in OBJECTS.items()}
            asked_for = {code: match for code, match in found.items() if match is not None}
            if not asked_for and not entering and mentions_code:
                pronoun = _PRONOUN.match(text, 1) if text.startswith(" ") else None
                if pronoun is not None:
                    asked_for = {"asks_otp": pronoun}
            if not asked_for:
                continue
            nearest = min(match.start() for match in asked_for.values())
            gap = 1 if verb.group(0) in ("go", "dien", "khai") else 4
            if len(text[:nearest].split()) > gap:
                continue
            end = verb.end() + max(match.end() for match in asked_for.values())
            sending = verb.group(0).split()[0] in ("gui", "send", "text", "forward")
            if sending and _DELIVERED.match(clause.folded, end) is not None:
                continue
            if entering:
                asked = (
                    has_untrusted_link
                    or _DESTINATION.search(clause.folded) is not None
                    or _SCAM_PURPOSE.search(clause.folded, verb.start()) is not None
                    or len(asked_for) >= 2
                )
            else:
                before = clause.before(verb.start(), 3).split()
                nearby = clause.after(verb.end(), 4).split() + clause.after(end, 4).split()
                asked = (
                    clause.word_index(verb.start()) == 0
                    or any(word in _IMPERATIVE for word in before)
                    or any(word in _RECIPIENT for word in nearby)
                )
            if asked:
                for code in asked_for:
                    yield Hit(code, clause.snippet(verb.start(), end))


# --- Phrase rules -------------------------------------------------------------------------

_AMOUNT = r"\d[\d ]*(?:k|d|dong|trieu|tr|vnd|nghin|ngan|usd|ty)"
_MONEY = phrases(
    r"chuyen (?:khoan |tien )?(?:truoc|gap|ngay(?! \d)|giup|het|toan bo|them)",
    r"chuyen (?:khoan |tien )?(?:\d[\d ]*(?:trieu|tr|k|nghin|ngan|d|dong|vnd|usd)? )?"
    r"(?:vao|qua|sang|toi|den) (?:so )?(?:tai khoan|tk|stk|vi)",
    r"chuyen (?:khoan |tien )?(?:giup |ngay |gap )?cho (?:em|con|chau|toi|minh|ben em|chung toi)",
    r"(?:vao|qua) (?:so )?(?:tai khoan|tk|stk) (?:nay|sau|duoi day|ben duoi|tam giu|toi doc"
    r"|cua (?:ban|em|toi|chung toi|co quan)|ban (?:con|chau|em))",
    r"so (?:tai khoan|tk|stk) (?:duoi day|nay|sau|ben duoi|toi doc|em gui|con gui|chau gui)",
    r"(?:nop|dong) (?:tien|phi|le phi|phat|tien phat|truoc|them|coc)",
    r"nap (?:tien|toi thieu|them|" + _AMOUNT + ")",
    r"thanh toan (?:truoc|ngay(?! \d)|gap|phi|khoan phi|" + _AMOUNT + ")",
    r"dat coc",
    r"ung (?:truoc )?(?:tien|\d+)",
    r"nap phi",
    r"transfer (?:a |the |your |all )?(?:\d+|money|funds|it|now|vnd)",
    r"send (?:me |us )?(?:the )?(?:money|\d+)",
    r"pay (?:a |an |the )?(?:fee|fine|deposit|first|now|upfront|up front|\d+)",
    r"(?:make|place) a deposit",
    r"deposit (?:at least |a minimum of )?\d+",
    r"wire (?:money|\d+)",
    r"top up",
    r"into (?:this|the following|my|our|a|his|her) (?:bank )?account",
    r"(?:send|transfer|pay) (?:it|them|that|the money|money|\d+ \w+(?: vnd| dong)?) (?:to|into)"
    r" (?:my |his |her |this |the |a |our )?(?:\w+ s )?(?:bank )?account",
    r"(?:bank )?transfer (?:\w+ )?(?:up ?front|in advance|first)",
    r"100 pct (?:bank )?transfer",
)
_MONEY_DONE = frozenset({"roi", "xong"})
"""'Mẹ chuyển cho con rồi': a report that money was sent, not a request."""

_MONEY_ASK = phrases(
    r"(?:can|muon|xin|vay) (?:gap )?\d+ (?:trieu|tr|k|nghin|ngan)",
    r"chuyen (?:gap |giup |ngay )?(?:cho (?:con|chau|em) )?\d+ (?:trieu|tr|k)",
    r"(?:need|send me|borrow) (?:\w+ )?\d+",
)

_SAFE_ACCOUNT = phrases(
    r"tai khoan (?:an toan|tam giu|tam thoi cua|chuyen dung|phong toa|giam sat|ky quy"
    r"|cua co quan(?: dieu tra)?|cua bo cong an|cua (?:vien kiem sat|toa an))",
    r"chung minh (?:minh |ba |ong |bac )?(?:trong sach|vo toi|khong lien quan)",
    r"xac minh (?:tai san|nguon tien|dong tien|so du)",
    r"kiem tra (?:nguon tien|tai san)",
    r"(?:khai bao|cung cap|doc|bao) (?:\w+ ){0,4}so du",
    r"(?:tell|give) (?:us |me )?(?:\w+ ){0,3}(?:account )?balance",
    r"(?:safe|secure|holding|protected|government|safety|verification) account",
    r"prove (?:your |my )?innocence",
    r"verify (?:your )?(?:assets|funds|money|savings)",
)

_INSTALL = phrases(
    r"cai (?:dat )?(?:lai )?(?:ung dung|app|phan mem|ban moi|phien ban moi|ban cap nhat)",
    r"tai (?:ve )?(?:ung dung|app|phan mem|ban moi|tep|file)",
    r"tai ve",
    r"cap nhat (?:ung dung|app|ban moi|phien ban moi)",
    r"download(?:ing)?",
    r"install(?:ing)?",
    r"update (?:the |your )?app",
)
_LINK_WORD = phrases(r"link", r"duong dan", r"tep", r"file", r"apk", r"url")

_REMOTE = phrases(
    r"ultra ?viewer",
    r"team ?viewer",
    r"any ?desk",
    r"chia se man hinh",
    r"screen ?shar\w*",
    r"share (?:your )?screen",
    r"dieu khien (?:may )?tu xa",
    r"remote (?:access|control)",
)

_FACE = phrases(
    r"(?:quet|xac thuc|chup|quay|cap nhat|xac minh) (?:video )?(?:khuon mat|guong mat)",
    r"sinh trac hoc",
    r"(?:scan|verify|record|update) (?:your )?(?:face|biometrics?)",
    r"face (?:scan|verification|check)",
)

_THREAT = phrases(
    r"(?:bi|se bi|sap bi|co the bi) (?:tam )?(?:khoa|dong bang|vo hieu hoa|phong toa|thu hoi"
    r"|dinh chi|ngung|dung giao dich|xu phat|phat|bat|tich thu|khoi to|truy to|dieu tra|xu ly"
    r"|huy|xoa)",
    r"se (?:bi )?cat dien",
    r"cat dien (?:luc|vao luc|trong|ngay hom nay|hom nay|neu)",
    r"(?:khoa|dong bang) (?:vinh vien )?tai khoan",
    r"lenh bat",
    r"bat (?:giu|tam giam|khan cap)",
    r"truy na",
    r"khoi to",
    r"lien quan (?:den|toi) (?:mot )?(?:vu an|duong day|rua tien|ma tuy|buon lau)",
    r"rua tien",
    r"(?:chua|co|van chuyen|buon ban) ma tuy",
    r"(?:contains?|containing|carrying) drugs",
    r"ho so vu an",
    r"vu an (?:ma tuy|hinh su)",
    r"chuyen (?:ho so )?(?:sang |cho )?(?:co quan )?(?:cong an|dieu tra)",
    r"xu ly theo (?:quy dinh )?(?:cua )?phap luat",
    r"hau qua phap ly",
    r"mat (?:het|toan bo|trang)(?: tien| so tien| tai khoan)?",
    r"(?:will|may|could|would) be (?:locked|suspended|blocked|frozen|closed|disabled|cut off"
    r"|disconnected|terminated|fined|arrested|deleted|deactivated)",
    r"(?:has|have) been (?:locked|suspended|blocked|frozen|disabled|deactivated)",
    r"arrest(?:ed)?",
    r"warrant",
    r"legal action",
    r"money laundering",
    r"drug (?:case|trafficking|ring)",
    r"lose (?:everything|all|your)",
    r"penalt(?:y|ies)",
    r"(?:a|pay the|pay a) fine",
    r"cut (?:off )?(?:your )?(?:power|electricity)",
)

_URGENCY = phrases(
    r"ngay lap tuc",
    r"gap$",
    r"gap (?:hom nay|trong hom nay|ngay(?! \d))",
    r"lap tuc",
    r"ngay bay gio",
    r"(?:ngay )?trong hom nay",
    r"ngay hom nay",
    r"khan(?: cap)?",
    r"(?:rat |dang can )?gap lam",
    r"(?:viec|chuyen|tien|can tien|rat) gap",
    r"(?:gui|chuyen|tra|doc|lam|xu ly|dong|nop) gap",
    r"nhanh (?:len|tay|chong)",
    r"keo (?:lo|muon|mat|bi|het)",
    r"trong (?:vong )?\d+ (?:gio|phut|tieng)",
    r"sau \d+ (?:gio|tieng)",
    r"chi con \d+",
    r"han chot",
    r"het han",
    r"qua han",
    r"(?:cap nhat|chuyen|thanh toan|bam|truy cap|cai|lam|nop|dong|xac minh|xac nhan|doc|gui"
    r"|lien he|goi|tai|nhan|dang ky) ngay(?! \d)",
    r"urgent(?:ly)?",
    r"immediately",
    r"right (?:away|now)",
    r"as soon as possible",
    r"asap",
    r"within \d+ (?:hours?|minutes?|days?)",
    r"today only",
    r"expir(?:e|es|ed|ing)",
    r"last chance",
    r"hurry",
    r"too late",
    r"deadline",
    r"ends today",
    r"only \d+ (?:places|spots|slots|seats) left",
)

_SECRECY = phrases(
    r"(?:khong duoc|dung|khong|cam) (?:ke|noi|bao|tiet lo|chia se)(?: chuyen nay| viec nay)?"
    r" (?:voi|cho) (?:ai|bat ky ai|nguoi nha|nguoi than|gia dinh|con chau|bo me|bo|me|ba|ong"
    r"|chong|vo|con|anh|chi|em|chau)",
    r"giu bi mat(?! (?:ma|otp|mat khau|pin|thong tin))",
    r"bi mat (?:tuyet doi|dieu tra|nha nuoc|cong vu)",
    r"khong (?:ke|noi) voi ai",
    r"(?:keep|keeping) (?:this|it) (?:a )?secret",
    r"(?:don t|do not) tell (?:anyone|anybody|your family|your children|the bank|mum|mom|dad"
    r"|my (?:mum|mom|dad|parents)|grandma|grandpa)(?: yet)?",
    r"tell no one",
    r"between (?:us|you and me)",
)
_DONT_CALL = phrases(
    r"dung goi(?: lai| dien| video)?",
    r"khong (?:goi|nghe) (?:duoc|may)",
    r"(?:don t|do not) call(?: back| me)?",
    r"can t (?:talk|answer|pick up)",
)

_PRIZE_STRONG = phrases(
    r"trung (?:thuong|giai)",
    r"giai (?:thuong|dac biet|nhat)",
    r"tri an khach hang",
    r"khach hang (?:may man|trung thuong)",
    r"boc tham",
    r"quay so (?:may man|trung thuong)",
    r"diem thuong",
    r"doi diem",
    r"you (?:have |ve )?won",
    r"winner",
    r"lottery",
    r"lucky (?:draw|customer|winner)",
    r"reward points?",
    r"claim your",
)
_PRIZE_WEAK = phrases(
    r"qua (?:tang|tri an)",
    r"nhan (?:qua|thuong|phan thuong|tien hoan)",
    r"phan (?:qua|thuong)",
    r"tien thuong",
    r"hoan (?:tien|thue)",
    r"tien hoan",
    r"prizes?",
    r"gift (?:card|box|voucher)",
    r"free (?:gift|iphone)",
    r"(?:tax )?refund",
    r"hop qua",
    r"gui (?:cho \w+ )?(?:mot )?(?:mon|hop|goi|kien|thung) qua",
    r"kien hang (?:tu )?nuoc ngoai",
    r"ngoai te",
    r"gifts?",
    r"parcel (?:sent to you )?from abroad",
    r"foreign (?:cash|currency)",
)

_ADVANCE_FEE = phrases(
    r"phi (?:nhan qua|nhan thuong|nhan tien|hai quan|thong quan|rut tien|mo khoa|ho so|thu tuc"
    r"|xac nhan|giai ngan|van chuyen quoc te|bao hiem khoan vay|kich hoat|nang cap|bao lanh"
    r"|xu ly|dang ky nhan)",
    r"(?:dong|nop|tra|chuyen|nap) (?:truoc )?(?:phi|le phi|tien phi|thue|tien thue|tien coc)"
    r"(?: \w+){0,6} (?:la|de|thi|moi) (?:duoc )?(?:nhan|rut|giai ngan|mo khoa|thong quan)",
    r"(?:de|moi|thi) (?:duoc )?(?:nhan|rut|giai ngan|mo khoa)(?: \w+){0,10}"
    r" (?:dong|nop|tra|chuyen) (?:them )?(?:phi|tien|\d+)",
    r"(?:customs|clearance|release|processing|unlock|withdrawal|handling|activation)"
    r" (?:fee|charge)",
    r"(?:file|service) fee",
    r"(?:shipping|delivery|customs|clearance) fee (?:was |is |has )?(?:not (?:been )?paid|unpaid)",
    r"phi (?:giao hang|ship|van chuyen|giao lai) (?:chua|khong) (?:duoc )?(?:thanh toan|tra)",
    r"fee (?:up ?front|in advance|first)",
    r"pay (?:a |an |the )?(?:\w+ ){0,3}(?:fee|tax|charge)(?: \w+){0,5}"
    r" (?:to|before) (?:receive|release|unlock|withdraw|claim|get)",
    r"(?:to|before) (?:receive|release|unlock|withdraw|claim)(?: \w+){0,10}"
    r" (?:pay|deposit|top up|transfer|complete)",
)

_JOB_STRONG = phrases(
    r"viec (?:nhe|nhanh) (?:luong|thu nhap) cao",
    r"tha tim",
    r"chot don",
    r"combo \d+ don",
    r"\d+ order combo",
    r"(?:lam|nhan) nhiem vu",
    r"moi nhiem vu",
    r"(?:like|liking|review|reviewing|rate|rating) (?:posts|videos|products|pages)",
    r"per task",
    r"(?:like|follow) (?:bai|video|trang)",
    r"(?:len|dat) cap vip",
)
_JOB_WEAK = phrases(
    r"tuyen (?:dung )?(?:cong tac vien|ctv|nhan vien online|nguoi lam online)",
    r"cong tac vien",
    r"ctv",
    r"hoa hong",
    r"lam (?:viec )?(?:tai nha|online)",
    r"kiem (?:tien|them thu nhap) (?:online|tai nha|tren dien thoai)",
    r"danh gia (?:san pham|5 sao|nam sao|shop)",
    r"don (?:lon|ao)",
    r"hoan (?:lai )?(?:tien )?goc",
    r"xac nhan don",
    r"(?:big|next|one more|another|special) orders?",
    r"nhiem vu",
    r"work (?:from|at) home",
    r"(?:part time|online|easy) job",
    r"commission",
    r"(?:we re|we are) hiring",
    r"earn \d+",
    r"tasks?",
)

_INVEST_STRONG = phrases(
    r"san (?:giao dich|vang|forex|coin|tien ao|ngoai hoi|dau tu)",
    r"tien (?:ao|ky thuat so|ma hoa)",
    r"crypto\w*",
    r"bitcoin",
    r"usdt",
    r"forex",
    r"nhom (?:vip|dau tu|chuyen gia)",
    r"(?:chuyen gia|thay) (?:dau tu|chung khoan|tai chinh)",
    r"nang cap (?:tai khoan )?vip",
    r"tai khoan vip",
    r"lenh rut(?: tien)?",
    r"(?:trading|investment) (?:group|platform|app)",
    r"vip (?:group|member|account|level)",
    r"upgrade (?:your )?(?:account )?(?:to )?vip",
    r"(?:guaranteed|sure) (?:profit|return)s?",
)
_INVEST_WEAK = phrases(
    r"dau tu",
    r"loi nhuan",
    r"lai (?:suat )?(?:cao|khung)",
    r"nap (?:tien|toi thieu)",
    r"rut (?:tien|loi nhuan|von)",
    r"invest\w*",
    r"profits?",
    r"withdraw\w*",
    r"deposit",
)

_TOO_GOOD = phrases(
    r"cam ket (?:khong lo|loi nhuan|lai|hoan von|thanh cong|100)",
    r"khong (?:co )?rui ro",
    r"(?:lai|loi nhuan|hoa hong|thuong(?: them)?|tang(?: chac chan)?) \d+(?: \d+)? pct",
    r"chac chan (?:tang|lai|co lai|thang)",
    r"\d+ pct (?:moi ngay|mot ngay|ngay|tuan|moi tuan)",
    r"giam (?:gia )?(?:den )?[7-9]\d pct",
    r"thu nhap (?:tu )?\d+\w*(?: \w+){0,4} (?:moi ngay|mot ngay|ngay)",
    r"an toan tuyet doi",
    r"100 pct (?:thanh cong|an toan|uy tin|hoan tien|lai)",
    r"guarantee(?:d|s)?",
    r"no (?:risk|losses?)(?! of)",
    r"risk free",
    r"\d+ pct (?:profit|return|a day|daily|per day|bonus)",
    r"[7-9]\d pct off",
    r"double your money",
    r"totally safe",
    r"moi (?:nhiem vu|don|luot like|like|luot danh gia) \d+",
    r"\d+ (?:\w+ )?(?:per|a|each) (?:task|like|review)",
)

_RECOVERY = phrases(
    r"lay lai (?:tien|so tien|tai san)(?: \w+){0,3} (?:bi lua|da mat|bi chiem doat|da chuyen)",
    r"thu hoi (?:von|tien|so tien|tai san)",
    r"ho tro (?:lay lai|thu hoi|hoan tra) (?:tien|von)",
    r"(?:recover(?:ing)?|get(?:ting)? back|retriev(?:e|ing))"
    r" (?:your )?(?:lost |stolen |scammed )?(?:money|funds)",
    r"get (?:your |the |their )?(?:lost )?(?:money|funds) back",
    r"fund recovery",
    r"recovery (?:service|agent|fee)",
)

_CHAIN = phrases(
    r"chia se (?:ngay )?(?:cho |toi |den |len )?\d+ (?:nguoi|ban|nhom|lan)",
    r"(?:gui|chuyen tiep) (?:ngay )?(?:cho |toi |den )?\d+ (?:nguoi|ban|nhom)",
    r"chia se (?:ngay )?(?:cho )?(?:moi nguoi|tat ca|nguoi than|het ban be)",
    r"(?:share|forward|send) (?:this )?(?:with |to )\d+ (?:people|friends|groups|relatives)",
    r"share (?:this )?(?:with )?everyone",
)

_RELATIVE = phrases(
    r"(?:me|bo|ba|ong|co|chu|di|cau|bac|noi|ngoai|anh|chi|em|con|chau|u|thim|mo|duong) oi",
    r"(?:mum|mom|mummy|dad|daddy|grandma|grandpa|granny|gran|nan|nana|auntie|aunt|uncle)",
    r"it s me",
)
_EMERGENCY = phrases(
    r"tai nan",
    r"cap cuu",
    r"benh vien",
    r"vien phi",
    r"phong mo",
    r"nhap vien",
    r"(?:o|nam|dang o|vao|cho) vien",
    r"nga xe",
    r"bi (?:bat|cong an giu|tam giu)",
    r"(?:viec|chuyen) gap",
    r"gap (?:chuyen|su co|rac roi)",
    r"(?:dang )?(?:can|muon) tien gap",
    r"gap lam",
    r"no (?:xau|nan)",
    r"accident",
    r"hospital",
    r"emergency",
    r"in trouble",
    r"urgent(?:ly)?",
    r"arrested",
    r"bail",
)
_OTHER_ACCOUNT = phrases(
    r"tai khoan (?:cua )?(?:ban|nguoi quen|dong nghiep)(?: \w+){0,2} (?:con|chau|em|anh|chi)",
    r"tai khoan (?:nay|sau|duoi day|ben duoi)",
    r"so tai khoan (?:nay|sau|duoi day|ben duoi|con gui|chau gui|em gui|con nhan)",
    r"(?:my )?friend s account",
    r"(?:stk|tai khoan|so tai khoan)(?: \w+){0,3} cua (?:ban|nguoi quen) (?:con|chau|em)",
    r"this account",
    r"the account (?:below|i m texting|i send)",
    r"account (?:below|number below)",
)
_NEW_NUMBER = phrases(
    r"(?:doi|moi doi) so",
    r"muon (?:may|dien thoai)(?: cua)? (?:ban|nguoi)",
    r"(?:dien thoai|may) (?:cua )?(?:con|chau|em) (?:bi )?(?:hong|mat|roi)",
    r"(?:lost|broke) my phone",
    r"(?:dung|lap|lam) nick (?:nay|moi)",
    r"(?:zalo|nick|facebook|tai khoan) cu(?: cua)? (?:con|chau|em) (?:bi )?(?:khoa|hack|mat)",
    r"so moi cua (?:con|chau|em)",
    r"new number",
    r"mang (?:yeu|kem|chap chon)",
    r"(?:bad|weak|poor) (?:signal|connection)",
    r"(?:signal|connection) (?:is |was )?(?:bad|weak|poor)",
)

_ACTION = phrases(
    r"cap nhat",
    r"xac minh",
    r"xac thuc",
    r"kich hoat",
    r"dang ky",
    r"dang nhap",
    r"khai bao",
    r"tra cuu",
    r"thanh toan",
    r"nhan (?:qua|thuong|tien|hoan|tro cap|ho tro|luong)",
    r"doi (?:diem|qua)",
    r"mo khoa",
    r"cai(?: dat)?",
    r"tai (?:ve|ung dung|app)",
    r"nop",
    r"gia han",
    r"update",
    r"verify",
    r"confirm",
    r"activate",
    r"register",
    r"log ?in",
    r"sign in",
    r"pay",
    r"claim",
    r"unlock",
    r"download",
    r"install",
    r"renew",
    r"redeem",
    r"huy (?:giao dich|lenh)",
    r"cancel",
)
"""What a link in a message from 'the bank' or 'the police' asks you to do there."""

_LINK_IGNORED = phrases(
    r"(?:khong|dung|dung bao gio|never|do not|don t|not) (?:\w+ ){0,2}"
    r"(?:bam|nhan|click|tap|open|visit|truy cap|mo|vao|an vao|cham|go)",
)
"""'Không bấm vào link ...', 'never tap ...': a warning that quotes a bad link."""

CLAIM_PATTERNS: dict[str, re.Pattern[str]] = {
    "impersonates_bank": phrases(
        r"ngan hang",
        r"\w*bank",
        r"the (?:atm|tin dung|ghi no)",
        r"internet banking",
        r"napas",
        r"sinh trac hoc",
        r"vcb|bidv|acb|tpb|shb|msb|ocb|vib",
    ),
    "impersonates_police": phrases(
        r"cong an (?:phuong|xa|quan|huyen|tinh|thanh pho|tp)",
        r"bo cong an",
        r"co quan (?:dieu tra|cong an|canh sat)",
        r"can bo (?:cong an|dieu tra)",
        r"(?:toi|em|chung toi|day) (?:la )?(?:can bo |dong chi )?(?:cong an|canh sat)",
        r"canh sat",
        r"dieu tra vien",
        r"vien kiem sat",
        r"toa an",
        r"(?:i m|i am|this is|we are) (?:a |an |the )?(?:police|officer|investigator)",
        r"police (?:officer|department|station|headquarters)",
        r"investigators?",
        r"court",
        r"prosecutor",
        r"procuracy",
    ),
    "impersonates_evn": phrases(
        r"dien luc",
        r"evn\w*",
        r"nganh dien",
        r"cong ty dien",
        r"hoa don (?:tien )?dien",
        r"no tien dien",
        r"cat dien",
        r"electricity",
        r"power (?:company|bill|cut|supply)",
        r"electric (?:company|bill)",
    ),
    "impersonates_tax": phrases(
        r"(?:co quan|cuc|chi cuc|can bo|tong cuc|nganh|doi) thue",
        r"hoan thue",
        r"quyet toan thue",
        r"ma so thue",
        r"no thue",
        r"etax\w*",
        r"thue dien tu",
        r"tax (?:office|refund|authority|department|debt|return|officer|file)",
    ),
    "impersonates_vneid": phrases(
        r"vneid",
        r"dinh danh(?: dien tu)?",
        r"can cuoc dien tu",
        r"(?:digital|electronic) id",
    ),
    "impersonates_delivery": phrases(
        r"giao hang",
        r"shipper",
        r"don hang",
        r"buu (?:dien|ta|pham|cuc)",
        r"kien hang",
        r"van don",
        r"giao don",
        r"courier",
        r"delivery",
        r"parcel",
        r"ghn|ghtk|vnpost|viettel ?post|j t express",
    ),
    "impersonates_government": phrases(
        r"dich vu cong",
        r"chinh phu",
        r"bo (?:tai chinh|y te|giao duc|lao dong|noi vu|tu phap|khoa hoc)",
        r"ubnd",
        r"uy ban nhan dan",
        r"hai quan",
        r"bao hiem xa hoi",
        r"bhxh",
        r"co quan nha nuoc",
        r"nha nuoc",
        r"government",
        r"ministry",
        r"customs",
        r"social insurance",
        r"public service",
    ),
    "impersonates_platform": phrases(
        r"(?:zalo|facebook|meta) (?:thong bao|ho tro|chinh thuc|canh bao|xac minh|support"
        r"|security|team)",
        r"(?:doi ngu|bo phan|trung tam) (?:ho tro|bao mat|cham soc)(?: \w+){0,2} (?:zalo|facebook)",
        r"tai khoan (?:zalo|facebook|fb)(?: \w+){0,4} (?:bi|se bi|vi pham|bao cao|khoa)",
        r"your (?:zalo|facebook) account",
    ),
}

_CLAIM_WHO: dict[str, tuple[str, str]] = {
    "impersonates_bank": ("ngân hàng", "a bank"),
    "impersonates_evn": ("điện lực", "the power company"),
    "impersonates_delivery": ("bên giao hàng", "a delivery company"),
    "impersonates_platform": ("Zalo, Facebook", "Zalo or Facebook"),
}
_GOVERNMENT_CLAIMS = frozenset(
    {"impersonates_police", "impersonates_tax", "impersonates_vneid", "impersonates_government"}
)


# --- Putting it together ------------------------------------------------------------------


def _first(pattern: re.Pattern[str], clauses: Sequence[Clause], *, negatable: bool) -> Hit | None:
    for clause in clauses:
        for match in pattern.finditer(clause.folded):
            if negatable and negated(clause, match.start()):
                continue
            return Hit("", clause.snippet(match.start(), match.end()))
    return None


def _distinct(pattern: re.Pattern[str], clauses: Sequence[Clause]) -> list[Hit]:
    seen: dict[str, Hit] = {}
    for clause in clauses:
        for match in pattern.finditer(clause.folded):
            seen.setdefault(match.group(0), Hit("", clause.snippet(match.start(), match.end())))
    return list(seen.values())


def _money_requests(clauses: Sequence[Clause]) -> Hit | None:
    for clause in clauses:
        for match in _MONEY.finditer(clause.folded):
            if negated(clause, match.start()) or _reported(clause, match.start()):
                continue
            if _MONEY_DONE & set(clause.after(match.end(), 6).split()):
                continue
            return Hit("", clause.snippet(match.start(), match.end()))
    return None


def quoted(link: Link, clauses: Sequence[Clause]) -> bool:
    """A link inside a warning ('kẻ gian gửi link ...', 'do not tap ...'): shown, not offered."""
    clause = next((item for item in clauses if item.contains(link.start)), None)
    return clause is not None and (
        describes_scam(clause) or _LINK_IGNORED.search(clause.folded) is not None
    )


def text_hits(clauses: Sequence[Clause], links: Sequence[Link], text: str) -> list[Hit]:
    """Every red flag the words of the message raise (links are judged in `link_hits`)."""
    active = [clause for clause in clauses if not describes_scam(clause)]
    untrusted = any(not link.is_trusted and not quoted(link, clauses) for link in links)
    hits: list[Hit] = []

    def add(code: str, hit: Hit | None) -> None:
        if hit is not None and all(existing.code != code for existing in hits):
            hits.append(Hit(code, hit.evidence, hit.params))

    mentions_code = any(OBJECTS["asks_otp"].search(clause.folded) for clause in active)
    for clause in active:
        for hit in _requests(clause, untrusted, mentions_code):
            add(hit.code, hit)
        for match in _WRONG_CODE.finditer(clause.folded) if mentions_code else ():
            add("asks_otp", Hit("", clause.snippet(match.start(), match.end())))
        if untrusted or _DESTINATION.search(clause.folded):
            for match in _LOGIN.finditer(clause.folded):
                if not negated(clause, match.start()):
                    add("asks_password", Hit("", clause.snippet(match.start(), match.end())))

    money = _money_requests(active)
    add("money_transfer", money)
    add("safe_account", _first(_SAFE_ACCOUNT, active, negatable=True))
    add("remote_access", _first(_REMOTE, active, negatable=True))
    add("threat", _first(_THREAT, active, negatable=False))
    add("urgency", _first(_URGENCY, active, negatable=False))
    add("advance_fee", _first(_ADVANCE_FEE, active, negatable=True))
    unwarned = [clause for clause in clauses if WARNS.search(clause.folded) is None]
    add("recovery_scam", _first(_RECOVERY, unwarned, negatable=True))
    add("chain_message", _first(_CHAIN, active, negatable=False))
    add("too_good_to_be_true", _first(_TOO_GOOD, active, negatable=False))

    link_words = _first(_LINK_WORD, active, negatable=True) is not None
    install = _first(_INSTALL, active, negatable=True)
    if install is not None and (untrusted or link_words):
        add("app_install_link", install)
    for apk in find_apk_files(text):
        holder = next((item for item in clauses if apk in item.raw), None)
        if holder is None or describes_scam(holder):
            continue
        position = holder.folded.find(apk.lower().replace(".", " ").replace("-", " "))
        if position < 0 or not negated(holder, position):
            add("app_install_link", Hit("", apk))
    face = _first(_FACE, active, negatable=True)
    if face is not None and (untrusted or install is not None or link_words):
        add("asks_face_scan", face)

    prize = _first(_PRIZE_STRONG, active, negatable=False)
    if prize is None and (untrusted or money is not None):
        prize = _first(_PRIZE_WEAK, active, negatable=False)
    add("prize", prize)

    jobs_strong = _distinct(_JOB_STRONG, active)
    jobs_weak = _distinct(_JOB_WEAK, active)
    if jobs_strong or len(jobs_weak) >= 2:
        add("job_offer", (jobs_strong or jobs_weak)[0])
    invest_strong = _distinct(_INVEST_STRONG, active)
    invest_weak = _distinct(_INVEST_WEAK, active)
    if invest_strong or len(invest_weak) >= 2:
        add("investment", (invest_strong or invest_weak)[0])

    secret = _first(_SECRECY, active, negatable=False)
    dont_call = _first(_DONT_CALL, active, negatable=False)
    asks_money = money or _first(_MONEY_ASK, active, negatable=True)
    add("secrecy", secret or (dont_call if asks_money is not None else None))

    relative = _first(_RELATIVE, active, negatable=False)
    if relative is not None and asks_money is not None:
        reason = (
            _first(_EMERGENCY, active, negatable=False)
            or _first(_OTHER_ACCOUNT, active, negatable=False)
            or _first(_NEW_NUMBER, active, negatable=False)
            or dont_call
        )
        if reason is not None:
            add("family_emergency", reason)

    for code, pattern in CLAIM_PATTERNS.items():
        add(code, _first(pattern, active, negatable=False))

    claims = {hit.code for hit in hits if hit.code in _GOVERNMENT_CLAIMS}
    if claims and (money is not None or any(hit.code == "advance_fee" for hit in hits)):
        add("authority_asks_money", money or next(h for h in hits if h.code == "advance_fee"))
    return hits


def link_hits(
    clauses: Sequence[Clause], links: Sequence[Link], claims: set[str], text_codes: set[str]
) -> list[Hit]:
    """Red flags raised by the links, given who the message claims to be."""
    hits: list[Hit] = []
    seen: set[str] = set()

    def add(code: str, link: Link, **params: str) -> None:
        if code not in seen:
            seen.add(code)
            hits.append(Hit(code, link.host, {"domain": link.host, **params}))

    acts = any(_ACTION.search(clause.folded) for clause in clauses) or bool(
        text_codes & {"asks_otp", "asks_password", "asks_card", "app_install_link"}
    )
    government_claim = bool(claims & _GOVERNMENT_CLAIMS)
    for link in links:
        if link.is_trusted or quoted(link, clauses):
            continue
        if link.is_ip:
            add("ip_address_link", link)
        if link.is_shortener:
            add("shortened_link", link)
        if link.has_unusual_tld:
            add("unusual_tld", link, tld=link.tld)
        brand = imitated_brand(link)
        if dresses_as_government(link) or (brand is not None and brand.kind == "government"):
            add("fake_government_site", link)
        elif brand is not None:
            add("lookalike_domain", link, brand=brand.name)
        elif government_claim and acts:
            add("fake_government_site", link)
        else:
            who = next((code for code in _CLAIM_WHO if code in claims), None)
            if who is not None and acts:
                who_vi, who_en = _CLAIM_WHO[who]
                add("unofficial_link", link, who_vi=who_vi, who_en=who_en)
    return hits
