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
MENU = _t("📚 Bạn muốn học bài nào?", "📚 Which lesson would you like?")
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
    "web": _t("🌐 Một trang web «{sender}» hiện ra:", "🌐 A web page «{sender}» shows:"),
}
DRILL_QUESTION = _t("Theo bạn, tin này là…", "What do you think this is?")
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
TO_MENU = _t("📋 Danh sách bài", "📋 All lessons")
OLD_BUTTON = _t(
    "Nút đó thuộc tin nhắn cũ. Mình đang ở đây nhé:",
    "That button belongs to an earlier message. Here is where we are:",
)
TAP_A_BUTTON = _t(
    "Bạn bấm một nút bên dưới, hoặc gõ số thứ tự nhé (ví dụ: 1).",
    "Please tap a button below, or type its number (for example: 1).",
)
HELP = _t(
    "Bạn có thể gõ:\n/menu — danh sách bài\n/lang — đổi ngôn ngữ\n/start — bắt đầu lại",
    "You can type:\n/menu — the lesson list\n/lang — change language\n/start — start again",
)
LESSON_NOT_FOUND = _t(
    "Mình không tìm thấy bài đó. Đây là danh sách bài:",
    "I couldn't find that lesson. Here is the list:",
)
DONE_MARK = "✅"
BOOKMARK_MARK = "▶️"
NEW_MARK = "📘"
DRILL_VERDICTS = {"scam": SCAM, "safe": SAFE, "unsure": UNSURE}
