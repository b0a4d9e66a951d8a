package exchange

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckURL holds the cases the backends' constructors and the EWS URL check used to test: the rule now lives
// here, and the configuration calls it.
func TestCheckURL(t *testing.T) {
	tests := []struct {
		url, suffix string
		want        error // nil for a valid URL
	}{
		{"https://mail.example.com/EWS/Exchange.asmx", ".asmx", nil},
		{"https://mail.example.com:8443/ews/exchange.ASMX", ".asmx", nil},
		{"http://127.0.0.1:8080/EWS/Exchange.asmx", ".asmx", nil},
		{"http://localhost/EWS/Exchange.asmx", ".asmx", nil},
		{"http://[::1]:443/EWS/Exchange.asmx", ".asmx", nil},
		{"https://graph.microsoft.com", "", nil},
		{"https://graph.microsoft.us/v1.0/", "", nil},
		{"http://127.0.0.1:8443", "", nil},
		{"", ".asmx", ErrNotURL},
		{"http://mail.example.com/EWS/Exchange.asmx", ".asmx", ErrPlainHTTP},
		{"http://login.example/", "", ErrPlainHTTP},
		{"http://graph.example.com", "", ErrPlainHTTP},
		{"http://127.0.0.2.example.com/", "", ErrPlainHTTP},
		{"ftp://mail.example.com/EWS/Exchange.asmx", ".asmx", ErrNotURL},
		{"https://mail.example.com/", ".asmx", ErrURLPath},
		{"https://mail.example.com/autodiscover/autodiscover.xml", ".asmx", ErrURLPath},
		{"mail.example.com/EWS/Exchange.asmx", ".asmx", ErrNotURL},
		{"graph", "", ErrNotURL},
		{"https://svc:secret@mail.example.com/EWS/Exchange.asmx", ".asmx", ErrURLUserInfo},
		{"https://svc:secret@mail example.com/", "", ErrNotURL},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			u, err := CheckURL(tt.url, tt.suffix)
			if tt.want == nil {
				if err != nil || u == nil {
					t.Errorf("CheckURL(%q) = %v, want a URL", tt.url, err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("CheckURL(%q) = %v, want %v", tt.url, err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("CheckURL(%q) = %q: the message shows the password", tt.url, err)
			}
			if tt.want == ErrURLPath && !strings.Contains(err.Error(), tt.suffix) {
				t.Errorf("CheckURL(%q) = %q: the message should name the ending %s", tt.url, err, tt.suffix)
			}
		})
	}
}
