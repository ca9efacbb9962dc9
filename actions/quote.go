package actions

import (
	"fmt"
	"strings"
)

// Quote renders argv as one shell line that, pasted into bash, runs
// exactly argv. Words made only of safe characters stay bare, so the
// document's commands render as the document writes them.
func Quote(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = quoteWord(a)
	}
	return strings.Join(words, " ")
}

// Bare reports whether a word means the same to a shell, to `ip -batch` and
// to `iptables-restore` written as it is: the one definition of a safe word,
// for runbooks and batch lines alike.
func Bare(s string) bool {
	if s == "" {
		return false
	}
	if s == "!" { // a lone "!" negates an iptables match; no shell expands it
		return true
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:,=+@%^", r)) {
			return false
		}
	}
	return true
}

func quoteWord(s string) string {
	if Bare(s) {
		return s
	}
	if strings.IndexFunc(s, func(r rune) bool { return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f }) >= 0 {
		return ansiC(s)
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ansiC quotes a word holding control characters (but newlines and tabs,
// which single quotes show as they are, so that sh can read them too) as
// bash's $'...': a
// carriage return or an escape sequence kept raw in a runbook or a log
// would redraw the terminal that shows it, hiding what precedes it on the
// line (an image's Cmd of "touch /owned; echo hi\r\x1b[Kecho hi" shows as
// "echo hi"). Escaped, every byte is seen, and bash reads back the same
// word.
func ansiC(s string) string {
	var b strings.Builder
	b.WriteString("$'")
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}
