package credbatch

import "strings"

// Locales are the languages of the built-in email texts: a definition's `locale` setting or
// an upload's Locale column chooses one (the deployment's default otherwise).
var Locales = []string{"en", "fr", "de", "es"}

// localeNames are the language names a locale is also recognised by.
var localeNames = map[string]string{
	"english": "en", "anglais": "en", "englisch": "en", "ingles": "en", "inglés": "en",
	"french": "fr", "francais": "fr", "français": "fr", "franzosisch": "fr", "französisch": "fr", "frances": "fr", "francés": "fr",
	"german": "de", "deutsch": "de", "allemand": "de", "aleman": "de", "alemán": "de",
	"spanish": "es", "espanol": "es", "español": "es", "espagnol": "es", "spanisch": "es",
}

// ParseLocale reads a locale: a code ("fr"), a code with a region ("fr-CA", "de_AT") or a
// language name ("French", "Deutsch", "Español"), any case, and returns its code. ok is false
// for an unsupported one; "" gives ("", true): no choice.
func ParseLocale(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", true
	}
	if l, ok := localeNames[s]; ok {
		return l, true
	}
	code, _, _ := strings.Cut(strings.ReplaceAll(s, "_", "-"), "-")
	for _, l := range Locales {
		if l == code {
			return l, true
		}
	}
	return "", false
}
