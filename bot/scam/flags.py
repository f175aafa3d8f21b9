"""Every red flag the checker knows: its weight, its plain-words explanation, and its lesson.

Weights: 5 = a scam on its own (nobody real asks for your OTP, password or card number: CURRICULUM
S3, 6.3); 4 = nearly always a scammer's move; 3 = a strong sign; 2 = a
sign that honest messages sometimes show too (a request for money). Context flags (who the message
claims to be, hurry) weigh 1 and only count, or show, when a real red flag is there as well: a bank
really does send balance notices, and a real OTP text really says it expires in 5 minutes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.scam.model import Advice, VerdictLabel


@dataclass(frozen=True)
class FlagInfo:
    weight: int
    vi: str
    en: str
    lesson: str | None = None
    context: bool = False


FLAGS: dict[str, FlagInfo] = {
    # --- Links -------------------------------------------------------------------------------
    "lookalike_domain": FlagInfo(
        4,
        "Tên trang {domain} bắt chước tên {brand}, nhưng không phải trang thật của {brand}.",
        "The address {domain} copies the name of {brand}, but it is not {brand}'s real website.",
        "check-a-website",
    ),
    "fake_government_site": FlagInfo(
        4,
        "Tin nhắn làm như của cơ quan nhà nước, nhưng trang {domain} không có đuôi .gov.vn. "
        "Trang của cơ quan nhà nước Việt Nam có đuôi .gov.vn.",
        "It looks like it comes from a government body, but {domain} doesn't end in .gov.vn. "
        "Vietnamese government websites end in .gov.vn.",
        "trusted-sources",
    ),
    "unusual_tld": FlagInfo(
        3,
        "Đường link {domain} có đuôi .{tld} lạ. Ngân hàng và cơ quan nhà nước không dùng đuôi này.",
        "The link {domain} ends in .{tld}, an odd ending. Banks and government bodies don't "
        "use it.",
        "check-a-website",
    ),
    "unofficial_link": FlagInfo(
        3,
        "Tin nhắn nói là của {who_vi}, nhưng đường link {domain} không phải trang chính thức "
        "của họ. Họ không gửi link bắt bạn đăng nhập hay cập nhật.",
        "It says it is from {who_en}, but the link {domain} is not their official website. "
        "They don't send links asking you to log in or update.",
        "check-a-website",
    ),
    "ip_address_link": FlagInfo(
        3,
        "Đường link {domain} chỉ là một dãy số, không có tên trang. Nơi đứng đắn không gửi link "
        "như vậy.",
        "The link {domain} is only a string of numbers with no site name. Genuine organisations "
        "don't send links like that.",
        "check-a-website",
    ),
    "shortened_link": FlagInfo(
        2,
        "Đường link {domain} là link rút gọn: nó giấu địa chỉ thật cho đến khi bạn bấm vào.",
        "The link {domain} is a shortened link: it hides the real address until you tap it.",
        "check-a-website",
    ),
    # --- What it asks for --------------------------------------------------------------------
    "asks_otp": FlagInfo(
        5,
        "Tin nhắn xin mã OTP (mã xác nhận gửi vào máy bạn). Ngân hàng, công an hay người giao "
        "hàng không bao giờ xin mã này.",
        "It asks for your OTP (the code sent to your phone). Banks, police and couriers never "
        "ask for it.",
        "otp-is-secret",
    ),
    "asks_password": FlagInfo(
        5,
        "Tin nhắn đòi mật khẩu hoặc bảo bạn đăng nhập qua nó. Không ai được biết mật khẩu của bạn.",
        "It asks for your password or asks you to log in through it. Nobody should ever know "
        "your password.",
        "otp-is-secret",
    ),
    "asks_card": FlagInfo(
        5,
        "Tin nhắn đòi số thẻ, mã CVV hay ngày hết hạn của thẻ. Những số này phải giữ kín.",
        "It asks for your card number, CVV or expiry date. Keep those numbers to yourself.",
        "otp-is-secret",
    ),
    "safe_account": FlagInfo(
        4,
        "Tin nhắn bảo chuyển tiền vào 'tài khoản an toàn', 'tài khoản tạm giữ' hay để 'chứng minh "
        "trong sạch'. Cơ quan nhà nước không bao giờ làm vậy.",
        "It asks you to move money to a 'safe' or 'holding' account, or to 'prove your "
        "innocence'. No authority ever does that.",
        "fake-police",
    ),
    "app_install_link": FlagInfo(
        4,
        "Tin nhắn bảo cài ứng dụng từ đường link hoặc tệp .apk. Ứng dụng thật chỉ cài từ CH Play "
        "hoặc App Store.",
        "It asks you to install an app from a link or an .apk file. Real apps only come from "
        "CH Play or the App Store.",
        "safe-app-installs",
    ),
    "remote_access": FlagInfo(
        4,
        "Tin nhắn bảo cài phần mềm điều khiển từ xa hoặc chia sẻ màn hình. Như vậy người lạ có "
        "thể điều khiển điện thoại của bạn.",
        "It asks you to install a remote-control app or share your screen, which lets a stranger "
        "control your phone.",
        "safe-app-installs",
    ),
    "asks_personal_id": FlagInfo(
        2,
        "Tin nhắn đòi số căn cước hoặc ảnh thẻ căn cước. Kẻ gian dùng chúng để mạo danh bạn.",
        "It asks for your ID number or photos of your ID card. Scammers use them to pose as you.",
        "trusted-sources",
    ),
    "asks_face_scan": FlagInfo(
        2,
        "Tin nhắn bảo quét khuôn mặt qua đường link hay ứng dụng lạ. Chỉ xác thực khuôn mặt "
        "trong ứng dụng chính thức của ngân hàng.",
        "It asks you to scan your face through a link or a strange app. Only do face checks "
        "inside your bank's official app.",
        "biometrics",
    ),
    "money_transfer": FlagInfo(
        2,
        "Tin nhắn bảo bạn chuyển tiền, nộp phí hoặc nạp tiền.",
        "It asks you to transfer money, pay a fee or top up.",
        "deepfake-calls",
    ),
    "authority_asks_money": FlagInfo(
        3,
        "Người xưng là công an hay cơ quan nhà nước lại đòi tiền qua điện thoại, tin nhắn. Cơ quan "
        "thật không làm việc như vậy.",
        "Someone claiming to be police or officials asks for money by phone or message. Real "
        "authorities never work like that.",
        "fake-police",
    ),
    "advance_fee": FlagInfo(
        3,
        "Phải nộp phí trước mới được nhận quà, nhận hàng, nhận tiền hay rút tiền. Đây là mánh quen "
        "của kẻ lừa đảo.",
        "You must pay a fee before you can receive a gift, a parcel, money or a withdrawal. That "
        "is a classic scam trick.",
        "romance-and-gifts",
    ),
    # --- Kinds of scam -----------------------------------------------------------------------
    "family_emergency": FlagInfo(
        3,
        "Người nhà xin tiền gấp vì tai nạn hay việc khẩn, hoặc vào tài khoản của người khác. Tài "
        "khoản Zalo, giọng nói, hình ảnh đều có thể bị giả.",
        "A relative urgently asks for money for an accident or emergency, or into someone else's "
        "account. Zalo accounts, voices and faces can all be faked.",
        "deepfake-calls",
    ),
    "job_offer": FlagInfo(
        3,
        "Lời mời việc nhẹ lương cao: thả tim, đánh giá, chốt đơn là được trả tiền. Đây là bẫy "
        "'làm nhiệm vụ'.",
        "An easy-job, big-pay offer: get paid to like, review or 'place orders'. This is the "
        "'task' trap.",
        "task-scams",
    ),
    "investment": FlagInfo(
        3,
        "Lời mời đầu tư, nạp tiền vào sàn hay vào nhóm 'chuyên gia'. Hứa lãi cao là bẫy quen "
        "thuộc.",
        "An invitation to invest, or to deposit money on a platform or in an 'expert' group. "
        "Promises of high profit are a familiar trap.",
        "fake-investment",
    ),
    "recovery_scam": FlagInfo(
        3,
        "Lời hứa lấy lại tiền đã bị lừa. Dịch vụ 'thu hồi tiền' đòi phí trước cũng là lừa đảo.",
        "A promise to get back money lost to a scam. 'Recovery' services that want a fee first "
        "are scams too.",
        "five-steps-after-a-scam",
    ),
    "prize": FlagInfo(
        2,
        "Tin nhắn báo trúng thưởng, tặng quà, hoàn tiền hay đổi điểm. Quà từ trên trời rơi xuống "
        "thường là mồi câu.",
        "It says you have won a prize, a gift, a refund or reward points. Gifts out of the blue "
        "are usually bait.",
        "romance-and-gifts",
    ),
    "too_good_to_be_true": FlagInfo(
        2,
        "Hứa hẹn quá tốt: lãi rất cao, cam kết không lỗ, giảm giá quá sâu.",
        "Promises too good to be true: huge profits, 'no losses', giant discounts.",
        "fake-investment",
    ),
    "threat": FlagInfo(
        2,
        "Tin nhắn dọa (khóa tài khoản, cắt điện, phạt, bắt giữ) để bạn sợ mà làm theo.",
        "It threatens you (a locked account, a power cut, a fine, an arrest) so that fear makes "
        "you obey.",
        None,
    ),
    "secrecy": FlagInfo(
        2,
        "Tin nhắn bảo giữ bí mật hoặc đừng gọi lại, để bạn không kiểm tra được với ai.",
        "It tells you to keep it secret or not to call back, so you can't check with anyone.",
        "fake-police",
    ),
    "chain_message": FlagInfo(
        2,
        "Tin nhắn giục chia sẻ cho thật nhiều người. Tin thật không cần bạn lan truyền gấp "
        "như vậy.",
        "It pushes you to share it with many people. Real news doesn't need you to spread it in "
        "a rush.",
        "fake-news",
    ),
    # --- Context: who it claims to be, and hurry ---------------------------------------------
    "urgency": FlagInfo(
        1,
        "Tin nhắn giục bạn làm ngay, để bạn không kịp suy nghĩ hay hỏi ai.",
        "It rushes you to act now, so you have no time to think or ask anyone.",
        None,
        context=True,
    ),
    "impersonates_bank": FlagInfo(
        1,
        "Tin nhắn nói là của ngân hàng. Kẻ gian hay giả tên ngân hàng, kể cả tên người gửi.",
        "It says it is from a bank. Scammers often fake a bank's name, even the sender's name.",
        "fake-bank-sms",
        context=True,
    ),
    "impersonates_police": FlagInfo(
        1,
        "Tin nhắn nói là của công an hay cơ quan điều tra. Công an không làm việc qua điện thoại, "
        "video hay Zalo.",
        "It says it is from the police or investigators. The police don't deal with you by "
        "phone, video call or Zalo.",
        "fake-police",
        context=True,
    ),
    "impersonates_evn": FlagInfo(
        1,
        "Tin nhắn nói là của điện lực. Điện lực không liên lạc qua số cá nhân hay Zalo.",
        "It says it is from the power company. The power company doesn't contact you from "
        "personal numbers or on Zalo.",
        "fake-utility-and-tax",
        context=True,
    ),
    "impersonates_tax": FlagInfo(
        1,
        "Tin nhắn nói là của cơ quan thuế. Cơ quan thuế không hỏi mã OTP, mật khẩu, không gửi link "
        "cài ứng dụng.",
        "It says it is from the tax office. The tax office never asks for OTPs or passwords, or "
        "sends links to install apps.",
        "fake-utility-and-tax",
        context=True,
    ),
    "impersonates_vneid": FlagInfo(
        1,
        "Tin nhắn nói về VNeID hay định danh điện tử. Chỉ có một ứng dụng VNeID, và mức 2 phải "
        "đăng ký trực tiếp ở công an.",
        "It is about VNeID or your digital ID. There is only one VNeID app, and level 2 is "
        "registered in person at the police.",
        "one-real-vneid",
        context=True,
    ),
    "impersonates_delivery": FlagInfo(
        1,
        "Tin nhắn nói là của bên giao hàng. Người giao hàng thật không cần mã OTP và không bắt "
        "chuyển khoản trước.",
        "It says it is from a delivery company. Real couriers never need your OTP or a transfer "
        "in advance.",
        "fake-shops-shippers",
        context=True,
    ),
    "impersonates_government": FlagInfo(
        1,
        "Tin nhắn nói là của cơ quan nhà nước. Cơ quan nhà nước không đòi tiền hay mật khẩu qua "
        "tin nhắn.",
        "It says it is from a government body. Government bodies don't ask for money or "
        "passwords by message.",
        "trusted-sources",
        context=True,
    ),
    "impersonates_platform": FlagInfo(
        1,
        "Tin nhắn nói là của Zalo hay Facebook. Kẻ gian giả thông báo khóa tài khoản để lấy mật "
        "khẩu và mã của bạn.",
        "It says it is from Zalo or Facebook. Scammers fake account warnings to get your "
        "password and codes.",
        "secure-zalo",
        context=True,
    ),
}

CLAIMS = tuple(code for code in FLAGS if code.startswith("impersonates_"))

LESSON_PRIORITY: tuple[str, ...] = (
    # Who the scammer pretends to be and what kind of scam it is say most; then what it asks
    # for; then the link. A "police" call about a parcel is a police scam; a "customs" call
    # about a gift is a gift scam; a courier's "confirmation fee" is a fake-shipper scam.
    "safe_account",
    "impersonates_police",
    "impersonates_vneid",
    "impersonates_evn",
    "impersonates_tax",
    "family_emergency",
    "recovery_scam",
    "job_offer",
    "investment",
    "prize",
    "impersonates_delivery",
    "advance_fee",
    "authority_asks_money",
    "remote_access",
    "asks_otp",
    "asks_card",
    "asks_password",
    "app_install_link",
    "asks_face_scan",
    "impersonates_bank",
    "impersonates_platform",
    "fake_government_site",
    "impersonates_government",
    "asks_personal_id",
    "chain_message",
    "too_good_to_be_true",
    "lookalike_domain",
    "unofficial_link",
    "unusual_tld",
    "ip_address_link",
    "shortened_link",
    "secrecy",
    "money_transfer",
)
"""Which red flag picks the lesson when several are found: the first one present."""

LESSON_BY_FLAG: dict[str, str] = {
    code: info.lesson for code, info in FLAGS.items() if info.lesson is not None
}


def lesson_for(codes: Iterable[str]) -> str | None:
    present = set(codes)
    for code in LESSON_PRIORITY:
        if code in present and code in LESSON_BY_FLAG:
            return LESSON_BY_FLAG[code]
    return None


# --- Advice -----------------------------------------------------------------------------------
# Facts from CURRICULUM.md: S1 police, S2 EVN/tax, S3 bank SMS, S4 VNeID, S5 relatives,
# S6/S7 tasks and investment, S10 reporting (5656, 156, tinnhiemmang.vn).

ADVICE: dict[str, Advice] = {
    item.code: item
    for item in (
        Advice(
            "do_not_click",
            "Đừng bấm vào đường link, đừng trả lời và đừng làm theo tin nhắn.",
            "Don't tap the link, don't reply, and don't do what the message says.",
        ),
        Advice(
            "do_not_act",
            "Đừng trả lời, đừng chuyển tiền và đừng làm theo tin nhắn.",
            "Don't reply, don't send money, and don't do what the message says.",
        ),
        Advice(
            "police",
            "Công an không làm việc qua điện thoại, video hay Zalo và không bao giờ bảo chuyển "
            "tiền. Hãy tắt máy và đến công an xã, phường gần nhà để hỏi.",
            "The police don't deal with you by phone, video call or Zalo, and never ask for "
            "transfers. Hang up and ask at your local police station in person.",
        ),
        Advice(
            "vneid",
            "Chỉ có một ứng dụng VNeID, cài từ CH Play hoặc App Store. Mức 2 phải đăng ký trực "
            "tiếp ở công an, không ai làm giúp qua điện thoại được.",
            "There is only one VNeID app, installed from CH Play or the App Store. Level 2 is "
            "registered in person at the police; nobody can do it for you by phone.",
        ),
        Advice(
            "evn",
            "Điện lực không liên lạc qua số cá nhân hay Zalo. Hãy gọi tổng đài điện lực in trên "
            "hóa đơn tiền điện (ở Hà Nội là 19001288).",
            "The power company doesn't contact you from personal numbers or on Zalo. Call the "
            "hotline printed on your electricity bill (19001288 in Hanoi).",
        ),
        Advice(
            "tax",
            "Cơ quan thuế không hỏi mã OTP hay mật khẩu. Ứng dụng thuế duy nhất là eTax Mobile "
            "trên CH Play, App Store; giấy mời thật gửi qua bưu điện hoặc tài khoản thuế điện tử.",
            "The tax office never asks for OTPs or passwords. Its only phone app is eTax Mobile "
            "from CH Play or the App Store; real letters come by post or to your e-tax account.",
        ),
        Advice(
            "family",
            "Trước khi chuyển tiền, hãy gọi lại cho người thân bằng số điện thoại bạn đã lưu từ "
            "trước, không dùng số hay tài khoản trong tin nhắn.",
            "Before sending any money, call your relative back on the number you already have "
            "saved, not a number or account from the message.",
        ),
        Advice(
            "money_traps",
            "Việc làm thật không bắt bạn nộp tiền để được làm hay được rút tiền. Lời hứa lãi cao, "
            "cam kết không lỗ là bẫy.",
            "A real job never makes you pay to work or to withdraw. Promises of high, risk-free "
            "profit are a trap.",
        ),
        Advice(
            "recovery",
            "Ai hứa lấy lại tiền bị lừa mà đòi phí trước cũng là kẻ lừa đảo. Hãy báo công an.",
            "Anyone who promises to recover scammed money for a fee up front is a scammer too. "
            "Report to the police.",
        ),
        Advice(
            "delivery",
            "Người giao hàng thật không cần mã OTP. Hãy trả tiền khi nhận hàng, sau khi xem đúng "
            "hàng.",
            "Real couriers never need your OTP. Pay on delivery, after checking it is the right "
            "item.",
        ),
        Advice(
            "apps",
            "Chỉ cài ứng dụng từ CH Play hoặc App Store. Không cài từ đường link hay tệp .apk "
            "người khác gửi.",
            "Only install apps from CH Play or the App Store, never from a link or an .apk file "
            "someone sends you.",
        ),
        Advice(
            "never_share",
            "Không bao giờ đưa mã OTP, mật khẩu, mã PIN hay số thẻ cho bất kỳ ai, kể cả người xưng "
            "là ngân hàng hay công an.",
            "Never give your OTP, password, PIN or card number to anyone, even someone who says "
            "they are the bank or the police.",
        ),
        Advice(
            "call_official",
            "Muốn kiểm tra, hãy tự gọi số tổng đài in trên thẻ, trong ứng dụng chính thức hoặc "
            "trên trang web bạn vẫn dùng. Đừng gọi số ghi trong tin nhắn.",
            "To check, call the number printed on your card, shown in the official app, or on the "
            "website you already know. Don't call a number given in the message.",
        ),
        Advice(
            "check_site",
            "Muốn xem một trang web có lừa đảo không, tra tên trang ở tinnhiemmang.vn (mục Website "
            "lừa đảo). Trang của cơ quan nhà nước có đuôi .gov.vn.",
            "To check a website, look its name up at tinnhiemmang.vn (the scam-website section). "
            "Government websites end in .gov.vn.",
        ),
        Advice(
            "report",
            "Báo tin nhắn lừa đảo (miễn phí): nhắn S [người gửi] [nội dung] đến 5656. Cuộc gọi lừa "
            "đảo: nhắn LD [số điện thoại] [nội dung] đến 5656 hoặc 156, hoặc gọi 156.",
            "Report a scam text (free): text S [sender] [content] to 5656. A scam call: text "
            "LD [phone number] [content] to 5656 or 156, or call 156.",
        ),
        Advice(
            "if_done",
            "Lỡ bấm link, đưa mã hay chuyển tiền rồi? Đổi mật khẩu, gọi ngay ngân hàng để khóa tài "
            "khoản, giữ lại tin nhắn làm bằng chứng, báo công an và kể cho người nhà.",
            "Already tapped, shared a code or sent money? Change your password, call your bank "
            "at once to lock the account, keep the messages as evidence, report to the police "
            "and tell your family.",
        ),
        Advice(
            "ask_family",
            "Chưa chắc thì hỏi người nhà hoặc tình nguyện viên trước khi làm theo.",
            "If you're not sure, ask your family or a volunteer before doing anything.",
        ),
        Advice(
            "stay_alert",
            "Chưa thấy dấu hiệu lừa đảo rõ ràng, nhưng vẫn nên cẩn thận: không đưa mã OTP, mật "
            "khẩu cho ai, và ai xin tiền thì tự gọi lại bằng số bạn đã biết để hỏi.",
            "No clear warning signs found, but stay careful: never give anyone your OTP or "
            "password, and if someone asks for money, call them back on a number you know.",
        ),
    )
}

_LINK_FLAGS = frozenset(
    {
        "lookalike_domain",
        "fake_government_site",
        "unusual_tld",
        "unofficial_link",
        "ip_address_link",
        "shortened_link",
        "app_install_link",
    }
)
_SPECIFIC: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"impersonates_police", "safe_account", "authority_asks_money"}), "police"),
    (frozenset({"impersonates_vneid"}), "vneid"),
    (frozenset({"impersonates_evn"}), "evn"),
    (frozenset({"impersonates_tax"}), "tax"),
    (frozenset({"family_emergency"}), "family"),
    (frozenset({"job_offer", "investment", "too_good_to_be_true"}), "money_traps"),
    (frozenset({"recovery_scam"}), "recovery"),
    (frozenset({"impersonates_delivery"}), "delivery"),
    (frozenset({"app_install_link", "remote_access"}), "apps"),
    (frozenset({"asks_otp", "asks_password", "asks_card"}), "never_share"),
)


def advice_for(verdict: VerdictLabel, codes: Iterable[str]) -> list[Advice]:
    """What to do, most urgent first: don't act, the rule for who it pretends to be, how to
    check, how to report, and (when it is likely a scam) what to do if you already acted."""
    present = set(codes)
    if verdict == "no_red_flags":
        return [ADVICE["stay_alert"]]
    keys = ["do_not_click" if present & _LINK_FLAGS else "do_not_act"]
    keys += [key for trigger, key in _SPECIFIC if present & trigger]
    keys.append("call_official")
    if present & _LINK_FLAGS:
        keys.append("check_site")
    keys.append("report")
    keys.append("if_done" if verdict == "likely_scam" else "ask_family")
    return [ADVICE[key] for key in keys]
