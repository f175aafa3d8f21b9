"""Words for volunteers and the people they help, in every language."""

from __future__ import annotations

from bot.engine.lesson import Text


def _t(vi: str, en: str) -> Text:
    return Text(vi=vi, en=en)


CANCEL = _t("❌ Thôi, không gửi", "❌ Never mind")
CANCELLED = _t("Được rồi. 👍", "All right. 👍")
BACK_TO_LESSONS = _t("Bạn gõ /menu để quay lại bài học.", "Type /menu to go back to the lessons.")

# --- becoming a volunteer -------------------------------------------------------------------

FORM_NAME = _t(
    "🙌 Cảm ơn bạn đã giúp người thân học dùng điện thoại an toàn!\n"
    "Bạn tên là gì? (Người thân sẽ thấy tên này, ví dụ: Minh)",
    "🙌 Thank you for helping your family learn to use their phones safely!\n"
    "What is your name? (The people you help will see it, for example: Minh)",
)
FORM_SCHOOL = _t(
    "🏫 Bạn học trường nào, hoặc ở tổ chức nào? (ví dụ: THPT Phan Bội Châu)",
    "🏫 Which school or organisation are you with? (for example: Phan Boi Chau High School)",
)
FORM_CLASS = _t(
    "📚 Bạn học lớp nào? (ví dụ: 11A2). Không có lớp thì bấm «Không có lớp».",
    "📚 Which class are you in? (for example: 11A2). No class? Tap «No class».",
)
NO_CLASS = _t("➖ Không có lớp", "➖ No class")
FORM_PROVINCE = _t(
    "📍 Bạn ở tỉnh, thành phố nào? Gõ tên tỉnh (tên cũ trước khi sáp nhập cũng được).",
    "📍 Which province or city are you in? Type its name (the name before the merger works too).",
)
PROVINCE_SUGGEST = _t(
    "Mình chưa tìm thấy «{text}». Có phải một trong các tỉnh này không? Hoặc bạn gõ lại nhé.",
    "I couldn't find «{text}». Is it one of these? Or type it again.",
)
PROVINCE_UNKNOWN = _t(
    "Mình chưa tìm thấy «{text}». Bạn gõ lại tên tỉnh hoặc thành phố nhé (ví dụ: Nghệ An).",
    "I couldn't find «{text}». Please type the province or city again (for example: Nghe An).",
)
FIELD_TOO_SHORT = _t("Bạn gõ giúp mình ít nhất 2 chữ nhé.", "Please type at least 2 letters.")
FIELD_TOO_LONG = _t(
    "Dài quá — bạn gõ ngắn hơn, dưới {limit} chữ nhé.",
    "That's too long — please keep it under {limit} characters.",
)
REGISTERED = _t(
    "🎉 Xong rồi, {name}! Bạn là tình nguyện viên của trường {school}.",
    "🎉 Done, {name}! You are a volunteer for {school}.",
)
INVITATION = _t(
    "🔑 Mã mời của bạn: {code}\n\n"
    "Gửi cho bố mẹ, ông bà một trong các cách sau:\n"
    "{telegram}"
    "• Trang web: {web}\n"
    "• Zalo: nhắn cho Cầm Tay dòng chữ «ref {code}»\n"
    "• Hoặc cho họ quét mã QR bên dưới.\n\n"
    "Khi người thân học xong bài đầu tiên, mình sẽ báo bạn. Gõ /family để xem họ học đến đâu.",
    "🔑 Your invitation code: {code}\n\n"
    "Send it to your parents and grandparents in one of these ways:\n"
    "{telegram}"
    "• Web: {web}\n"
    "• Zalo: send Cầm Tay the words «ref {code}»\n"
    "• Or let them scan the QR code below.\n\n"
    "When a family member finishes their first lesson, I'll tell you. Type /family to see how "
    "they are doing.",
)
INVITATION_TELEGRAM = _t("• Telegram: {link}\n", "• Telegram: {link}\n")
QR_CAPTION = _t(
    "📷 Quét mã này để bắt đầu học cùng {name}", "📷 Scan this to start learning with {name}"
)
NOT_A_VOLUNTEER = _t(
    "Bạn chưa là tình nguyện viên. Gõ /volunteer để đăng ký và nhận mã mời người thân.",
    "You are not a volunteer yet. Type /volunteer to sign up and get an invitation code.",
)

# --- joining with an invitation -------------------------------------------------------------

JOINED = _t(
    "🤝 Bạn học cùng {name}. {name} sẽ thấy bạn học đến đâu và giúp khi bạn cần. "
    "Gõ /helper để xem hoặc dừng chia sẻ.",
    "🤝 You are learning with {name}'s help. {name} will see how you are doing and help when "
    "you need it. Type /helper to see or stop this.",
)
UNKNOWN_CODE = _t(
    "Mình không tìm thấy mã mời này. Không sao — bạn cứ học ngay nhé! "
    "Bạn hỏi lại người mời mã đúng rồi gõ «ref» và mã sau.",
    "I couldn't find that invitation code. No problem — you can start learning now! "
    "Ask the person who invited you for the right code and type «ref» and the code later.",
)
OWN_CODE = _t(
    "😊 Đây là mã mời của chính bạn — bạn gửi nó cho người thân nhé.",
    "😊 That's your own invitation code — send it to your family.",
)
ALREADY_REFERRED = _t(
    "Bạn đã có người giúp rồi, nên mã mời này không dùng được nữa. Bạn cứ học tiếp nhé! 😊",
    "You already joined with someone's invitation, so this code can't be used. Keep learning! 😊",
)
VOLUNTEER_JOINED = _t(
    "👋 Có người thân vừa bắt đầu học bằng mã mời của bạn (trên {channel}). "
    "Bạn gọi họ là gì? Bấm «Đặt tên» rồi gõ, ví dụ: Bà nội.",
    "👋 A family member just started learning with your invitation (on {channel}). "
    "What do you call them? Tap «Name them» and type, for example: Grandma.",
)
NAME_THEM = _t("✏️ Đặt tên", "✏️ Name them")
ASK_NICKNAME = _t(
    "Bạn gõ tên bạn gọi người này (ví dụ: Bà nội, Mẹ), dưới 40 chữ.",
    "Type what you call this person (for example: Grandma, Mum), under 40 characters.",
)
NICKNAME_SAVED = _t("✅ Đã lưu: {nickname}.", "✅ Saved: {nickname}.")
ACTIVATED = _t(
    "🎉 {nickname} vừa học xong bài đầu tiên: «{lesson}». Lời mời của bạn đã được tính. "
    "Cảm ơn bạn!",
    "🎉 {nickname} just finished their first lesson: «{lesson}». Your invitation now counts. "
    "Thank you!",
)

# --- the family view ------------------------------------------------------------------------

FAMILY_EMPTY = _t(
    "Chưa có ai học bằng mã mời của bạn. Gõ /volunteer để xem lại mã mời và mã QR.",
    "No one has joined with your invitation yet. Type /volunteer to see your code and QR again.",
)
FAMILY_HEADER = _t("👨‍👩‍👧 Người thân bạn đang giúp:", "👨‍👩‍👧 The family members you help:")
FAMILY_LESSONS = _t(
    "✅ Bài đã xong: {done} ({together} học cùng người giúp 👥, {alone} tự học 🙋)",
    "✅ Lessons done: {done} ({together} with a helper 👥, {alone} on their own 🙋)",
)
FAMILY_NOW = _t(
    "📖 Đang học: «{lesson}», bước {step}/{total}", "📖 Now: «{lesson}», step {step}/{total}"
)
FAMILY_IDLE = _t("📖 Chưa mở bài nào", "📖 No lesson open")
FAMILY_STUCK = _t("🆘 Đang cần giúp ở bước này", "🆘 Stuck at this step now")
FAMILY_ACTIVE = _t("🕐 Lần cuối: {when}", "🕐 Last active: {when}")
FAMILY_GAIN = _t(
    "📈 {module}: {pre_correct}/{pre_total} → {correct}/{total}",
    "📈 {module}: {pre_correct}/{pre_total} → {correct}/{total}",
)
FAMILY_PROMPT = _t(
    "Gửi một lời động viên? Người thân sẽ thấy tên bạn.",
    "Send a word of encouragement? They will see your name.",
)
ENCOURAGE = _t("💬 Động viên {nickname}", "💬 Encourage {nickname}")
FAMILY_MEMBER = _t("Người thân {number}", "Family member {number}")
JUST_NOW = _t("vừa xong", "just now")
MINUTES_AGO = _t("{count} phút trước", "{count} minutes ago")
HOURS_AGO = _t("{count} giờ trước", "{count} hours ago")
YESTERDAY = _t("hôm qua", "yesterday")
DAYS_AGO = _t("{count} ngày trước", "{count} days ago")
SCHOOL_BOARD = _t("🏫 Bảng của trường", "🏫 School board")

# --- relayed messages -----------------------------------------------------------------------

ASK_CHEER = _t(
    "Bạn gõ lời động viên cho {nickname} (dưới {limit} chữ):",
    "Type your message for {nickname} (under {limit} characters):",
)
ASK_TIP = _t(
    "Bạn gõ lời chỉ cách cho {nickname} (dưới {limit} chữ). Chỉ từng bước ngắn thôi nhé:",
    "Type your tip for {nickname} (under {limit} characters). Short, one step at a time:",
)
RELAY_TOO_LONG = _t(
    "Tin nhắn dài {length} chữ — bạn rút gọn dưới {limit} chữ rồi gửi lại nhé.",
    "That message is {length} characters — please shorten it to under {limit} and send again.",
)
RELAY_TOO_MANY = _t(
    "Bạn đã gửi nhiều tin trong giờ này. Bạn nghỉ một chút rồi gửi tiếp nhé.",
    "You've sent many messages this hour. Please take a short break and send later.",
)
RELAY_SENT = _t("✅ Đã gửi cho {nickname}.", "✅ Sent to {nickname}.")
RELAY_GONE = _t(
    "Người này không còn chia sẻ việc học với bạn, nên tin nhắn không được gửi.",
    "This person no longer shares their learning with you, so the message was not sent.",
)
CHEER_RELAYED = _t("💌 {name} nhắn bạn: «{text}»", "💌 {name} says: «{text}»")
TIP_RELAYED = _t(
    "💡 {name} chỉ bạn: «{text}»\n\nLàm được rồi thì bấm «✅ Xong rồi». Vẫn chưa được thì "
    "bấm «🆘 Tôi bị kẹt» để hỏi lại.",
    "💡 {name}'s tip: «{text}»\n\nWhen it works, tap «✅ Done». Still stuck? Tap «🆘 I'm stuck» to "
    "ask again.",
)

# --- help at a stuck step -------------------------------------------------------------------

STUCK_ALERT = _t(
    "🆘 {nickname} đang bị kẹt ở bài «{lesson}», bước {step}/{total}:\n\n«{instruction}»",
    "🆘 {nickname} is stuck in «{lesson}», step {step}/{total}:\n\n«{instruction}»",
)
STUCK_ACTIONS = _t("Bạn giúp thế nào?", "How would you like to help?")
CALL_THEM = _t("📞 Tôi sẽ gọi điện", "📞 I'll call them")
SEND_TIP = _t("💬 Gửi lời chỉ cách", "💬 Send a tip")
CALL_NOTED = _t(
    "👍 Mình đã báo {nickname} là bạn sẽ gọi.", "👍 I've told {nickname} you will call."
)
WILL_CALL = _t(
    "📞 {name} sẽ gọi điện giúp bạn ngay. Bạn để điện thoại gần bên nhé.",
    "📞 {name} will call you soon to help. Keep your phone close.",
)
HELPER_TOLD = _t(
    "📨 Mình đã nhắn {name}. {name} sẽ giúp bạn ở bước này.",
    "📨 I've let {name} know. {name} will help you with this step.",
)
HELPER_TOLD_RECENTLY = _t(
    "📨 {name} đã được báo rồi, bạn chờ một chút nhé.",
    "📨 {name} has already been told — please wait a little.",
)
FIND_HELP = _t(
    "🙋 Nếu được, bạn nhờ con cháu hoặc người bạn tin tưởng ngồi cạnh chỉ giúp. "
    "Nếu con cháu là tình nguyện viên, hãy xin mã mời của các em: lần sau bạn bị kẹt, "
    "mình sẽ nhắn các em giúp bạn.",
    "🙋 If you can, ask a family member or someone you trust to sit with you. If a young "
    "family member is a volunteer, ask for their invitation code: next time you're stuck, "
    "I'll message them for you.",
)
REQUEST_ANSWERED = _t(
    "Yêu cầu này đã xong hoặc không còn của bạn.",
    "This request is already dealt with, or no longer yours.",
)

# --- the learner's helper -------------------------------------------------------------------

HELPER_IS = _t(
    "👥 Người giúp bạn: {name} ({school}). {name} thấy bạn học đến đâu và được báo khi bạn "
    "bị kẹt.\nBài đã xong: {done} ({together} cùng người giúp, {alone} tự học).",
    "👥 Your helper: {name} ({school}). {name} sees how you are doing and is told when you are "
    "stuck.\nLessons done: {done} ({together} with a helper, {alone} on your own).",
)
NO_HELPER = _t(
    "Bạn chưa có người giúp. Nếu con cháu là tình nguyện viên, bạn xin mã mời rồi gõ "
    "«ref» và mã (ví dụ: ref abc234).",
    "You don't have a helper yet. If a young family member is a volunteer, ask for their "
    "invitation code and type «ref» and the code (for example: ref abc234).",
)
HELPER_LEFT = _t(
    "Bạn đã dừng chia sẻ với người giúp. Việc học của bạn vẫn còn nguyên.",
    "You stopped sharing with your helper. Your lessons are all still here.",
)
STOP_SHARING = _t("🚫 Dừng chia sẻ với {name}", "🚫 Stop sharing with {name}")
KEEP_SHARING = _t("👍 Vẫn chia sẻ", "👍 Keep sharing")
CONFIRM_STOP = _t(
    "Dừng chia sẻ thì {name} sẽ không thấy việc học của bạn và không được báo khi bạn bị kẹt "
    "nữa. Việc này không đổi lại được. Bạn chắc chứ?",
    "If you stop, {name} will no longer see your lessons or be told when you are stuck. This "
    "can't be undone. Are you sure?",
)
YES_STOP = _t("🚫 Đúng, dừng chia sẻ", "🚫 Yes, stop sharing")
STOPPED = _t(
    "Đã dừng. {name} không còn thấy việc học của bạn nữa. Bạn vẫn học tiếp bình thường.",
    "Done. {name} can no longer see your learning. You can keep learning as before.",
)
KEPT = _t("👍 {name} vẫn đồng hành cùng bạn.", "👍 {name} is still with you.")

# --- school boards --------------------------------------------------------------------------

BOARD_HEADER = _t(
    "🏫 {school} ({province})\nLớp · tình nguyện viên · người thân đã mời · đã học xong bài đầu · "
    "chủ đề đã hoàn thành",
    "🏫 {school} ({province})\nClass · volunteers · family invited · finished a first lesson · "
    "topics completed",
)
BOARD_ROW = _t(
    "• {class_name}: {volunteers} · {referred} · {activated} · {modules}",
    "• {class_name}: {volunteers} · {referred} · {activated} · {modules}",
)
BOARD_TOTAL = _t(
    "Cả trường — người thân đã học xong bài đầu: {activated}; chủ đề đã hoàn thành: {modules}. 👏",
    "Whole school — family members past their first lesson: {activated}; topics completed: "
    "{modules}. 👏",
)
NO_CLASS_NAME = _t("(không lớp)", "(no class)")

# --- daily reminders -------------------------------------------------------------------------

REMIND_ASK = _t(
    "⏰ Bạn muốn mình nhắc học lúc mấy giờ? Mình chỉ nhắc vào ngày bạn chưa học, và không nhắc "
    "từ 21 giờ tối đến 7 giờ sáng.",
    "⏰ When should I remind you to learn? Only on days you haven't learned yet, and never "
    "between 9 pm and 7 am.",
)
REMIND_NOW = _t("Bây giờ: {time} mỗi ngày.", "Now: {time} every day.")
REMIND_NONE = _t("Bây giờ: không nhắc.", "Now: no reminders.")
REMIND_OFF = _t("🔕 Không nhắc", "🔕 No reminders")
REMIND_SET = _t(
    "✅ Mình sẽ nhắc bạn lúc {time} vào những ngày bạn chưa học. Gõ /settings để đổi.",
    "✅ I'll remind you at {time} on days you haven't learned. Type /settings to change it.",
)
REMIND_ZONE = _t("Giờ tính theo: {zone}.", "Times are in: {zone}.")
ZONE_BUTTON = _t("🌏 Tôi đang ở nước ngoài", "🌏 I live in another time zone")
ZONE_ASK = _t(
    "🌏 Bạn đang sống ở đâu? Mình sẽ nhắc học theo giờ ở đó. Nếu không có trong danh sách, "
    "gõ /timezone và tên múi giờ, ví dụ: /timezone Europe/Prague",
    "🌏 Where do you live? I'll remind you by the clock there. If it is not in the list, type "
    "/timezone and the zone's name, for example: /timezone Europe/Prague",
)
ZONE_SET = _t(
    "✅ Đã đổi sang giờ {zone}. Bây giờ ở đó là {time}.",
    "✅ Now using {zone} time. It is {time} there now.",
)
ZONE_UNKNOWN = _t(
    "🤔 Mình không biết múi giờ «{name}». Bạn gõ theo mẫu Châu_lục/Thành_phố, ví dụ: "
    "/timezone Asia/Tokyo — hoặc chọn trong danh sách ở /settings.",
    "🤔 I don't know the time zone «{name}». Type it as Continent/City, for example: "
    "/timezone Asia/Tokyo — or pick one from the list in /settings.",
)
REMIND_OFF_DONE = _t(
    "🔕 Đã tắt nhắc học. Gõ /settings khi muốn bật lại.",
    "🔕 Reminders are off. Type /settings to turn them back on.",
)

# --- certificates ----------------------------------------------------------------------------

CERTIFICATE_NAME = _t(
    "🎓 Bạn đã vượt qua bài kiểm tra cuối! Bạn muốn ghi tên gì trên chứng nhận? "
    "Gõ tên của bạn (ví dụ: Nguyễn Thị Lan).",
    "🎓 You passed the final check! What name should go on your certificate? "
    "Type your name (for example: Nguyen Thi Lan).",
)
NAME_HOW = _t(
    "Bạn gõ /name và tên muốn ghi trên chứng nhận, ví dụ: /name Nguyễn Thị Lan",
    "Type /name and the name for your certificates, for example: /name Nguyen Thi Lan",
)
NAME_SAVED = _t(
    "✅ Chứng nhận mới sẽ mang tên: {name}.", "✅ New certificates will carry the name: {name}."
)

# --- privacy -----------------------------------------------------------------------------------

PRIVACY = _t(
    "🔒 Mình lưu gì về bạn?\n"
    "• Bạn học đến đâu: bài đã học, câu trả lời, ngày học, nhắc học bạn chọn.\n"
    "• Tên bạn tự chọn cho chứng nhận (nếu có), và tỉnh, trường của người giới thiệu bạn.\n"
    "• Mã tài khoản chat để gửi tin cho bạn. Không lưu số điện thoại, không lưu họ tên thật.\n"
    "Để làm gì? Chỉ để dạy bạn, nhắc bạn, và để nhà trường, hội, tỉnh đếm số người đã học "
    "(chỉ đếm, không thấy tên).\n"
    "Ai thấy? Người giúp bạn (nếu bạn đồng ý) thấy bạn học đến đâu. Quản trị viên thấy số liệu; "
    "mã tài khoản chat không bao giờ ra khỏi hệ thống.\n"
    "Bao lâu? Đến khi bạn xóa. Lịch sử học cũ hơn {days} ngày được xóa tên, chỉ còn số đếm.\n"
    "/mydata — nhận một tệp có tất cả dữ liệu của bạn\n"
    "/forget — xóa hết dữ liệu của bạn",
    "🔒 What do we keep about you?\n"
    "• How far you've got: lessons done, your answers, the days you learned, your reminder.\n"
    "• The name you chose for certificates (if any), and your referrer's province and school.\n"
    "• Your chat account's id, to send you messages. No phone number, no real name.\n"
    "Why? Only to teach you, remind you, and let schools, associations and provinces count how "
    "many have learned (counts only, no names).\n"
    "Who sees it? Your helper (if you agreed) sees how far you've got. Admins see figures; your "
    "chat id never leaves the system.\n"
    "How long? Until you erase it. Learning history older than {days} days loses your name and "
    "becomes a count.\n"
    "/mydata — get a file with all your data\n"
    "/forget — erase all your data",
)
MYDATA_FILE = _t(
    "📄 Đây là tất cả dữ liệu mình đang lưu về bạn (tệp JSON).",
    "📄 Here is all the data we keep about you (a JSON file).",
)
MYDATA_LINK = _t(
    "📄 Bấm đường link này để tải tất cả dữ liệu mình lưu về bạn (tệp JSON). Link dùng được "
    "1 giờ; đừng gửi cho ai nhé:\n{url}",
    "📄 Tap this link to download all the data we keep about you (a JSON file). It works for "
    "1 hour; don't share it:\n{url}",
)
MYDATA_ELSEWHERE = _t(
    "📄 Ứng dụng này không gửi được tệp. Bạn gõ /link để học tiếp trên trang web hoặc "
    "Telegram, rồi gõ /mydata ở đó nhé.",
    "📄 This app cannot carry files. Type /link to carry on in the web chat or Telegram, then "
    "type /mydata there.",
)
FORGET_ASK = _t(
    "🗑 Xóa hết dữ liệu của bạn? Bài đã học, chuỗi ngày học, nhắc học, chứng nhận (sẽ bị thu "
    "hồi) và liên kết với người giúp bạn sẽ mất hẳn, không lấy lại được.",
    "🗑 Erase all your data? Your lessons, streak, reminder, certificates (they will be revoked) "
    "and the link with your helper will be gone for good.",
)
FORGET_YES = _t("🗑 Có, xóa hết", "🗑 Yes, erase everything")
FORGET_NO = _t("↩️ Không, giữ lại", "↩️ No, keep it")
FORGET_KEPT = _t("👍 Đã giữ nguyên dữ liệu của bạn.", "👍 Your data is kept as it was.")
FORGET_DONE = _t(
    "✅ Đã xóa hết dữ liệu của bạn. Cảm ơn bạn đã học cùng mình! Nếu muốn học lại từ đầu, "
    "bạn gõ /start bất cứ lúc nào.",
    "✅ All your data is erased. Thank you for learning with us! To start again from the "
    "beginning, type /start any time.",
)
GUARDIAN_ASK = _t(
    "👦 {nickname} nói mình dưới 16 tuổi. Để mình lưu tiến độ học của em, cần bố mẹ hoặc bạn "
    "(người đã mời em) đồng ý: chỉ lưu em học đến đâu, không lưu số điện thoại hay họ tên thật, "
    "em có thể xóa bất cứ lúc nào. Bạn xác nhận chứ?",
    "👦 {nickname} says they are under 16. For us to keep their progress, a parent or you "
    "(who invited them) must agree: only how far they've got is kept, no phone number or real "
    "name, and they can erase it any time. Do you confirm?",
)
GUARDIAN_CONFIRM = _t("✅ Tôi xác nhận", "✅ I confirm")
GUARDIAN_DONE = _t(
    "✅ Đã xác nhận. Từ giờ mình lưu tiến độ học của {nickname}.",
    "✅ Confirmed. From now on we keep {nickname}'s progress.",
)
GUARDIAN_TOLD = _t(
    "✅ {name} đã đồng ý cho bạn. Từ giờ mình lưu bạn học đến đâu nhé!",
    "✅ {name} agreed for you. From now on we keep how far you've got!",
)
AGREE_FIRST = _t(
    "🔒 Việc này cần lưu thông tin của bạn. Gõ /agree nếu bạn đồng ý để mình lưu tiến độ "
    "(xem /privacy).",
    "🔒 This needs us to keep something about you. Type /agree if you're happy for us to keep "
    "your progress (see /privacy).",
)
