package actions

import "strings"

// Quote renders argv as one shell line that, pasted into sh or bash, runs
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
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
