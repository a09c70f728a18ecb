package exports

import (
	"strings"
)

// corpus is hostile-but-ordinary text: what people and models write.
var corpus = map[string]string{
	"latin":      "Crème brûlée, naïve façade, Øresund, Łódź",
	"cyrillic":   "Путешествие по России",
	"greek":      "Καλημέρα κόσμε",
	"chinese":    "你好世界，中文测试",
	"japanese":   "こんにちは、カタカナ、日本語",
	"korean":     "안녕하세요 세계",
	"arabic":     "مرحبا بالعالم",
	"hebrew":     "שלום עולם",
	"devanagari": "नमस्ते दुनिया",
	"emoji":      "Smile 😀 thumbs 👍🏽 family 👨‍👩‍👧‍👦 heart ❤️",
	"flags":      "Flags 🇫🇷🇯🇵🇺🇦 🏴󠁧󠁢󠁳󠁣󠁴󠁿",
	"combining":  "Zalgo z̷̢a̶l̵g̴o and e\u0301 and n\u0303",
	"astral":     "Math 𝕏𝔸𝕄 and old 𐌰𐌱 and 𠀀",
	"bidi":       "abc \u202Edlrow olleh\u202C def",
	"zerowidth":  "zero\u200Bwidth\u200Cjoin\u200Dhere\uFEFF",
	"longword":   strings.Repeat("x", 6000),
}
