"""The engine's own learner-facing words, in every language; lesson text lives in lessons/."""

from __future__ import annotations

from bot.engine.lesson import Text


def _t(vi: str, en: str) -> Text:
    return Text(vi=vi, en=en)


WELCOME = _t(
    "Xin chào! 👋 Mình là Cầm Tay, người bạn dạy dùng điện thoại an toàn.\n"
    "Mỗi bài chỉ vài phút. Bạn chọn ngôn ngữ nhé.",
    "Hello! 👋 I'm Cầm Tay, a friend who teaches safe phone use.\n"
    "Each lesson takes only a few minutes. Please choose your language.",
)
WELCOME_BACK = _t("Chào mừng bạn trở lại! 👋", "Welcome back! 👋")
MENU = _t("📚 Bạn muốn học chủ đề nào?", "📚 Which topic would you like?")
MENU_SUGGEST = _t("👉 Gợi ý: «{title}»", "👉 Suggested: «{title}»")
MODULE_INTRO = _t("📂 {title}\n{summary}", "📂 {title}\n{summary}")
MODULE_OFFER_CHECK = _t(
    "📝 Bạn muốn trả lời {count} câu hỏi nhanh trước không? Không bắt buộc — bạn có thể học ngay.",
    "📝 Would you like to answer {count} quick questions first? It's optional — you can start "
    "learning right away.",
)
MODULE_RECOMMENDED = _t("⭐ Gợi ý cho bạn: «{title}»", "⭐ Suggested for you: «{title}»")
PRE_CHECK = _t("📝 Kiểm tra nhanh (không bắt buộc)", "📝 Quick check (optional)")
POST_CHECK = _t("🏁 Bài kiểm tra cuối", "🏁 Final check")
PRE_CHECK_TITLE = _t("Kiểm tra nhanh: {title}", "Quick check: {title}")
POST_CHECK_TITLE = _t("Kiểm tra cuối: {title}", "Final check: {title}")
CHECK_HEADER = _t(
    "📝 {title}\n{count} câu hỏi. Chưa biết cũng không sao — mình học cùng nhau.",
    "📝 {title}\n{count} questions. It's fine not to know yet — we'll learn together.",
)
CHECK_SCORE = _t("Bạn trả lời đúng {correct}/{total} câu.", "You got {correct} of {total} right.")
CHECK_RECOMMEND = _t(
    "👉 Gợi ý: bắt đầu với bài «{title}» — bài này giúp phần bạn chưa chắc.",
    "👉 Suggestion: start with «{title}» — it covers what you were unsure about.",
)
CHECK_ALL_RIGHT = _t(
    "🌟 Bạn đã biết khá nhiều! Bạn có thể học nhanh từ bài «{title}», hoặc làm bài kiểm tra cuối.",
    "🌟 You already know a lot! Go quickly through «{title}», or take the final check.",
)
CHECK_GAIN = _t(
    "Trước khi học: {pre_correct}/{pre_total} → sau khi học: {correct}/{total}. 👏",
    "Before the lessons: {pre_correct}/{pre_total} → after: {correct}/{total}. 👏",
)
MODULE_DONE = _t("🎓 Bạn đã xong chủ đề «{title}».", "🎓 You have completed the topic «{title}».")
LEARN_LESSON = _t("▶️ Học bài: {title}", "▶️ Learn: {title}")
NEXT_MODULE = _t("▶️ Chủ đề tiếp: {title}", "▶️ Next topic: {title}")
TAKE_POST_CHECK = _t("🏁 Làm bài kiểm tra cuối", "🏁 Take the final check")
MODULE_LESSONS = _t("📋 Các bài của chủ đề", "📋 This topic's lessons")
ALL_MODULES = _t("📚 Tất cả chủ đề", "📚 All topics")
RECOMMENDED_MARK = "⭐"
UNSUPPORTED = _t(
    "Mình chỉ đọc được chữ và nút bấm thôi. 🙏 Bạn bấm một nút bên dưới, hoặc gõ chữ nhé.",
    "I can only read text and buttons. 🙏 Please tap a button below, or type.",
)
WHAT_NEXT = _t("Bạn muốn làm gì tiếp theo?", "What would you like to do next?")
MENU_ALL_DONE = _t(
    "🌟 Bạn đã học xong tất cả các bài. Bạn có thể học lại bất kỳ bài nào.",
    "🌟 You have finished every lesson. You can go over any of them again.",
)
SWITCH_LANGUAGE = _t("🌐 English", "🌐 Tiếng Việt")
LANGUAGE_SET = _t("Đã chuyển sang tiếng Việt.", "Switched to English.")
RESUME_PROMPT = _t(
    "Bạn đang học dở bài «{title}» (bước {step}/{total}).",
    "You are part-way through «{title}» (step {step} of {total}).",
)
RESUME = _t("▶️ Học tiếp", "▶️ Carry on")
OTHER_LESSON = _t("📋 Chọn bài khác", "📋 Pick another lesson")
LESSON_HEADER = _t(
    "📘 Bài: {title}\n⏱ Khoảng {minutes} phút, {steps} bước.",
    "📘 Lesson: {title}\n⏱ About {minutes} minutes, {steps} steps.",
)
NEXT = _t("Tiếp tục ▶️", "Next ▶️")
DONE = _t("Xong rồi ✅", "Done ✅")
STUCK = _t("Tôi bị kẹt 🆘", "I'm stuck 🆘")
AGAIN = _t("Xem lại 🔁", "Show me again 🔁")
SHOW_PREFIX = _t("👉 Bạn làm ngay trên điện thoại nhé:\n", "👉 Try it now on your phone:\n")
DONE_PRAISE = _t("👍 Giỏi lắm!", "👍 Well done!")
STUCK_HELP = _t(
    "Không sao đâu, ai mới học cũng vậy. 🤗 Thử thế này nhé:\n{hint}",
    "That's fine, everyone gets stuck at first. 🤗 Try this:\n{hint}",
)
STUCK_NO_HINT = _t(
    "Không sao đâu. 🤗 Bạn làm chậm từng bước, hoặc nhờ con cháu ngồi cạnh giúp nhé.",
    "That's fine. 🤗 Go slowly, one step at a time, or ask a family member to sit with you.",
)
QUIZ_PREFIX = _t("❓ ", "❓ ")
RIGHT = _t("✅ Đúng rồi! ", "✅ That's right! ")
WRONG = _t("❌ Chưa đúng. ", "❌ Not quite. ")
RIGHT_ANSWER = _t("Đáp án đúng: {answer}", "The right answer: {answer}")
DRILL_INTRO = {
    "sms": _t("📩 Tin nhắn SMS từ «{sender}»:", "📩 A text message from «{sender}»:"),
    "zalo": _t("💬 Tin nhắn Zalo từ «{sender}»:", "💬 A Zalo message from «{sender}»:"),
    "call": _t("📞 Cuộc gọi từ «{sender}» nói:", "📞 A call from «{sender}» says:"),
    "web": _t("📱 Trên màn hình «{sender}»:", "📱 On the «{sender}» screen:"),
}
DRILL_QUESTION = _t("Theo bạn, đây là…", "What do you think this is?")
SCAM = _t("Lừa đảo 🚫", "A scam 🚫")
SAFE = _t("An toàn ✅", "Safe ✅")
UNSURE = _t("Không chắc 🤔", "Not sure 🤔")
DRILL_RIGHT = {
    "scam": _t("✅ Chính xác! Đây là lừa đảo.", "✅ Exactly! This is a scam."),
    "safe": _t("✅ Chính xác! Tin này an toàn.", "✅ Exactly! This one is safe."),
}
DRILL_WRONG = {
    "scam": _t("⚠️ Cẩn thận nhé: đây là lừa đảo.", "⚠️ Careful: this is a scam."),
    "safe": _t("Tin này thật ra an toàn.", "This one is actually safe."),
}
DRILL_UNSURE = _t(
    "🤔 Khi không chắc, đừng bấm gì và hỏi người thân — làm vậy là đúng.",
    "🤔 When unsure, tap nothing and ask family — that is the right move.",
)
RED_FLAGS = _t("🚩 Dấu hiệu đáng ngờ:", "🚩 Warning signs:")
FINISHED = _t(
    "🎉 Bạn đã học xong bài «{title}»!",
    "🎉 You finished «{title}»!",
)
FINISHED_SCORE = _t(
    "Bạn trả lời đúng {correct}/{answered} câu.",
    "You got {correct} of {answered} answers right.",
)
NEXT_LESSON = _t("▶️ Bài tiếp: {title}", "▶️ Next: {title}")
TO_MENU = ALL_MODULES
OLD_BUTTON = _t(
    "Nút đó thuộc tin nhắn cũ. Mình đang ở đây nhé:",
    "That button belongs to an earlier message. Here is where we are:",
)
TAP_A_BUTTON = _t(
    "Bạn bấm một nút bên dưới, hoặc gõ số thứ tự nhé (ví dụ: 1).",
    "Please tap a button below, or type its number (for example: 1).",
)
HELP = _t(
    "Bạn có thể gõ:\n/menu — các chủ đề\n/lang — đổi ngôn ngữ\n/start — bắt đầu lại\n"
    "/link — học tiếp trên ứng dụng khác\n/together — có người giúp ngồi cạnh\n"
    "/helper — người giúp bạn\n/volunteer — làm tình nguyện viên, giúp người thân học\n"
    "/family — người thân bạn đang giúp\n/ask — hỏi một câu\n/check — kiểm tra tin nhắn lạ\n"
    "/review — ôn lại câu đã học\n/settings — nhắc học hằng ngày\n"
    "/certificates — chứng nhận của bạn\n"
    "/name — tên ghi trên chứng nhận",
    "You can type:\n/menu — the topics\n/lang — change language\n/start — start again\n"
    "/link — carry on in another app\n/together — a helper is sitting with you\n"
    "/helper — the person helping you\n/volunteer — become a volunteer and help your family\n"
    "/family — the family members you help\n/ask — ask a question\n/check — check a message\n"
    "/review — go over what you learned\n/settings — daily reminder\n"
    "/certificates — your certificates\n"
    "/name — the name on your certificates",
)
TOGETHER_ON_BUTTON = _t("👥 Có người giúp ngồi cạnh tôi", "👥 My helper is with me")
TOGETHER_OFF_BUTTON = _t("🙋 Tôi tự học tiếp", "🙋 I'll go on by myself")
TOGETHER_ON = _t(
    "👥 Tuyệt! Hai người cùng học nhé. Bài học lúc này được ghi là «học cùng người giúp». "
    "Khi người giúp đi, bạn bấm «🙋 Tôi tự học tiếp».",
    "👥 Wonderful — learn together! Lessons now are recorded as «learned with a helper». "
    "When your helper leaves, tap «🙋 I'll go on by myself».",
)
TOGETHER_OFF = _t(
    "🙋 Được rồi, từ giờ bạn tự học. Bạn giỏi lắm!",
    "🙋 All right, you're learning on your own now. Well done!",
)
LEARNING_TOGETHER = _t("👥 Đang học cùng người giúp.", "👥 Learning together with your helper.")
FINISHED_TOGETHER = _t(
    "👥 Bài này bạn học cùng người giúp.", "👥 You did this lesson together with your helper."
)
LESSON_NOT_FOUND = _t(
    "Mình không tìm thấy bài đó. Đây là các chủ đề:",
    "I couldn't find that lesson. Here are the topics:",
)
DONE_MARK = "✅"
BOOKMARK_MARK = "▶️"
NEW_MARK = "📘"
DRILL_VERDICTS = {"scam": SCAM, "safe": SAFE, "unsure": UNSURE}
LINK_CODE = _t(
    "🔗 Mã liên kết của bạn: {code}\nTrên ứng dụng kia (Zalo, Telegram hoặc web), gõ:\n"
    "/link {code}\nMã dùng được {minutes} phút, một lần.",
    "🔗 Your link code: {code}\nOn your other app (Zalo, Telegram or the web), type:\n"
    "/link {code}\nThe code works once, for {minutes} minutes.",
)
LINK_BAD_CODE = _t(
    "Mã này không đúng hoặc đã hết hạn. Bạn gõ /link trên ứng dụng kia để lấy mã mới nhé.",
    "That code is wrong or has expired. Type /link on your other app to get a new one.",
)
LINK_TOO_MANY = _t(
    "Đã nhập sai mã quá nhiều lần. Bạn chờ 10 phút rồi thử lại nhé.",
    "Too many wrong codes. Please wait 10 minutes and try again.",
)
LINK_SAME = _t(
    "Hai ứng dụng này đã dùng chung tiến độ rồi. 👍",
    "These two apps already share your progress. 👍",
)
LINK_DONE = _t(
    "✅ Đã liên kết! Bạn học tiếp ở đây, tiến độ được giữ nguyên.",
    "✅ Linked! Carry on learning here; your progress comes with you.",
)

CHECK_MESSAGE = _t("🔍 Kiểm tra tin nhắn lạ", "🔍 Check a message")
INSPECT_INTRO = _t(
    "🔍 Bạn nhận được tin nhắn lạ? Hãy sao chép (hoặc chuyển tiếp) tin nhắn đó vào đây. "
    "Mình sẽ chỉ ra các dấu hiệu lừa đảo.\n"
    "Mình không bao giờ mở đường link trong tin nhắn. Bạn cũng đừng bấm vào nhé.",
    "🔍 Got a strange message? Copy (or forward) it here and I'll point out the warning signs.\n"
    "I never open the links in it. Please don't tap them either.",
)
INSPECT_PROMPT = _t(
    "📋 Dán tin nhắn vào đây, hoặc về menu.", "📋 Paste the message here, or go back to the menu."
)
INSPECT_AGAIN = _t(
    "📋 Gửi tin nhắn khác để kiểm tra, hoặc về menu.",
    "📋 Send another message to check, or go back to the menu.",
)
ASK_HOW = _t(
    "❓ Bạn gõ câu hỏi sau chữ /ask, ví dụ: /ask làm sao biết tin nhắn ngân hàng giả?",
    "❓ Type your question after /ask, for example: /ask how do I spot a fake bank text?",
)
LOOK_AGAIN = _t(
    "🤔 Gần đúng rồi! Mình xem lại nhé — bạn bấm nút, hoặc gõ số của câu trả lời.",
    "🤔 Nearly! Let's look again — tap a button, or type the answer's number.",
)
STREAK = _t("🔥 {days} ngày liên tiếp — giỏi lắm!", "🔥 {days} days in a row — well done!")
STREAK_FIRST_DAY = _t(
    "🌱 Ngày học đầu tiên! Mai học tiếp một chút nhé.",
    "🌱 Your first day of learning! Come back for a little more tomorrow.",
)
REMINDERS = _t("⏰ Nhắc học hằng ngày", "⏰ Daily reminder")
REVIEW_BUTTON = _t("🔁 Ôn lại ({count} câu)", "🔁 Review ({count} to go)")
REVIEW_HEADER = _t(
    "🔁 Ôn lại {count} câu bạn đã học. Trả lời chậm rãi, không cần vội nhé.",
    "🔁 Let's go over {count} things you learned. Take your time.",
)
REVIEW_PROGRESS = _t("Câu {number}/{count}", "Question {number} of {count}")
REVIEW_NONE = _t(
    "🔁 Hôm nay chưa có câu nào cần ôn. Mình sẽ nhắc khi đến lúc nhé!",
    "🔁 Nothing to review today. I'll bring questions back when it's time!",
)
REVIEW_DONE = _t(
    "🎉 Ôn xong! Bạn trả lời đúng {correct}/{total} câu. Câu nào chưa đúng sẽ quay lại sớm để "
    "bạn nhớ lâu hơn.",
    "🎉 Review done! You got {correct} of {total} right. Anything you missed comes back soon, "
    "so it sticks.",
)
REVIEW_MORE = _t(
    "Còn {count} câu nữa đến lúc ôn — bấm «🔁 Ôn lại» khi bạn muốn.",
    "{count} more are ready to review — tap «🔁 Review» whenever you like.",
)
MENU_REVIEW_DUE = _t(
    "🔁 Có {count} câu đến lúc ôn lại.", "🔁 {count} questions are ready to review."
)

# --- the privacy notice, before anything is kept ------------------------------------------------

CONSENT_VERSION = "2026-11-1"
"""Bumped whenever CONSENT changes in substance; recorded with each learner's agreement."""
CONSENT = _t(
    "🔒 Trước khi học, bạn đọc nhanh nhé:\n"
    "• Nếu bạn đồng ý, mình lưu bạn học đến đâu (bài đã học, câu trả lời, ngày học) để dạy tiếp "
    "đúng chỗ, nhắc bạn, và để nhà trường, hội, tỉnh đếm số người đã học — chỉ đếm, không thấy "
    "tên.\n"
    "• Không lưu số điện thoại, không hỏi họ tên thật.\n"
    "• Người giới thiệu bạn (nếu có) thấy bạn học đến đâu để giúp bạn.\n"
    "• Bạn xem, tải hoặc xóa hết dữ liệu bất cứ lúc nào: /privacy, /mydata, /forget.",
    "🔒 Before we start, a quick read:\n"
    "• If you agree, we keep how far you've got (lessons done, answers, days learned) to carry "
    "on in the right place, remind you, and let schools, associations and provinces count how "
    "many have learned — counts only, no names.\n"
    "• No phone number is kept and no real name is asked for.\n"
    "• The person who invited you (if any) sees how far you've got, to help you.\n"
    "• You can see, download or erase all of it any time: /privacy, /mydata, /forget.",
)
CONSENT_YES = _t("✅ Tôi đồng ý", "✅ I agree")
CONSENT_NO = _t("📖 Chỉ xem bài, không lưu gì", "📖 Just read, keep nothing")
CONSENT_YOUNG = _t("👦 Tôi dưới 16 tuổi", "👦 I'm under 16")
CONSENT_PARENT = _t(
    "👨‍👩‍👧 Tôi là bố mẹ/người giám hộ, tôi đồng ý", "👨‍👩‍👧 I'm the parent or guardian: I agree"
)
CONSENT_THANKS = _t(
    "🙏 Cảm ơn bạn! Mình sẽ lưu bạn học đến đâu. Gõ /privacy để xem mình lưu gì.",
    "🙏 Thank you! We'll keep how far you've got. Type /privacy to see what is kept.",
)
CONSENT_READ_ONLY = _t(
    "👌 Được rồi, bạn cứ xem bài thoải mái. Mình không lưu tiến độ của bạn. Khi muốn lưu, gõ "
    "/agree.",
    "👌 That's fine: read as much as you like. We won't keep your progress. To keep it, type "
    "/agree.",
)
CONSENT_GUARDIAN = _t(
    "👦 Bạn dưới 16 tuổi thì cần bố mẹ, người giám hộ hoặc anh chị tình nguyện viên đã mời bạn "
    "đồng ý trước.\n• Nếu bố mẹ đang ngồi cạnh: nhờ bố mẹ đọc phần trên rồi bấm nút bên dưới.\n"
    "• Nếu bạn được tình nguyện viên mời: họ sẽ nhận tin nhắn để xác nhận.\n"
    "Trong lúc chờ, bạn vẫn xem bài được, mình chưa lưu gì.",
    "👦 If you're under 16, a parent, guardian or the volunteer who invited you must agree "
    "first.\n• If a parent is with you: ask them to read the notice above, then tap the button "
    "below.\n• If a volunteer invited you: they get a message to confirm.\n"
    "Meanwhile you can read the lessons; nothing is kept yet.",
)
READ_ONLY_NOTE = _t(
    "📖 Bạn đang xem mà không lưu tiến độ. Gõ /agree để lưu.",
    "📖 You're reading without keeping progress. Type /agree to keep it.",
)
