package sync

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"tfsync/tf"
)

// The documents real servers return for the body tfsync wrote: Graph's (its create-event example) and Exchange
// Server's EWS conversion (paragraphs become divs, a generator meta, a comment and a style in the head, one more
// div on every later save). Their text must compare equal to the rendered body's, or every pass would rewrite
// the event.
func TestBodyTextIgnoresExchangeConversions(t *testing.T) {
	b := booking("BES-1", tf.KindBesiktning, "R1", at(23, 9, 0), time.Hour)
	body := Render(b, testSettings()).Body
	divs := regexp.MustCompile(`<p>`).ReplaceAllString(strings.ReplaceAll(body, "</p>", "</div>"), "<div>")
	ewsHead := "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n" +
		"<meta name=\"Generator\" content=\"Microsoft Exchange Server\">\r\n<!-- converted from rtf -->\r\n" +
		"<style><!-- .EmailQuote { margin-left: 1pt; padding-left: 4pt; border-left: #800000 2px solid; } --></style>" +
		"</head>\r\n<body>\r\n"
	for name, doc := range map[string]string{
		"graph": "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n</head>\r\n" +
			"<body>\r\n" + body + "\r\n</body>\r\n</html>\r\n",
		"ews after create": ewsHead + "<div>\r\n" + divs + "\r\n</div>\r\n</body>\r\n</html>\r\n",
		"ews after two updates": ewsHead + "<div>\r\n<div>\r\n<div>\r\n" + divs + "\r\n</div>\r\n</div>\r\n</div>\r\n" +
			"</body>\r\n</html>\r\n",
	} {
		if got, want := BodyText(doc), BodyText(body); got != want {
			t.Errorf("%s: text %q, want %q", name, got, want)
		}
	}
}
