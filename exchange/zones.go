package exchange

// Exchange (EWS and Graph alike) names time zones by their Windows ids. These tables follow CLDR's windowsZones
// table for Europe, UTC and the zones around it (TF runs in Sweden), plus the main world zones. Both backends use
// them; the emulator keeps its own on purpose, so that a backend and the emulator cannot share a mistake.

// ianaToWindows maps an IANA zone to the Windows zone with the same rules.
var ianaToWindows = map[string]string{
	"Etc/GMT": "UTC", "Etc/UCT": "UTC", "Etc/UTC": "UTC", "Etc/Universal": "UTC", "Etc/Zulu": "UTC", "GMT": "UTC",
	"UTC": "UTC",

	"Arctic/Longyearbyen": "W. Europe Standard Time", "Europe/Amsterdam": "W. Europe Standard Time",
	"Europe/Andorra": "W. Europe Standard Time", "Europe/Berlin": "W. Europe Standard Time",
	"Europe/Busingen": "W. Europe Standard Time", "Europe/Gibraltar": "W. Europe Standard Time",
	"Europe/Luxembourg": "W. Europe Standard Time", "Europe/Malta": "W. Europe Standard Time",
	"Europe/Monaco": "W. Europe Standard Time", "Europe/Oslo": "W. Europe Standard Time",
	"Europe/Rome": "W. Europe Standard Time", "Europe/San_Marino": "W. Europe Standard Time",
	"Europe/Stockholm": "W. Europe Standard Time", "Europe/Vaduz": "W. Europe Standard Time",
	"Europe/Vatican": "W. Europe Standard Time", "Europe/Vienna": "W. Europe Standard Time",
	"Europe/Zurich": "W. Europe Standard Time",

	"Europe/Belgrade": "Central Europe Standard Time", "Europe/Bratislava": "Central Europe Standard Time",
	"Europe/Budapest": "Central Europe Standard Time", "Europe/Ljubljana": "Central Europe Standard Time",
	"Europe/Podgorica": "Central Europe Standard Time", "Europe/Prague": "Central Europe Standard Time",
	"Europe/Tirane": "Central Europe Standard Time",

	"Africa/Ceuta": "Romance Standard Time", "Europe/Brussels": "Romance Standard Time",
	"Europe/Copenhagen": "Romance Standard Time", "Europe/Madrid": "Romance Standard Time",
	"Europe/Paris": "Romance Standard Time",

	"Europe/Sarajevo": "Central European Standard Time", "Europe/Skopje": "Central European Standard Time",
	"Europe/Warsaw": "Central European Standard Time", "Europe/Zagreb": "Central European Standard Time",

	"Atlantic/Canary": "GMT Standard Time", "Atlantic/Faroe": "GMT Standard Time",
	"Atlantic/Madeira": "GMT Standard Time", "Europe/Dublin": "GMT Standard Time",
	"Europe/Guernsey": "GMT Standard Time", "Europe/Isle_of_Man": "GMT Standard Time",
	"Europe/Jersey": "GMT Standard Time", "Europe/Lisbon": "GMT Standard Time", "Europe/London": "GMT Standard Time",

	"Atlantic/Reykjavik": "Greenwich Standard Time",

	"Atlantic/Azores": "Azores Standard Time",

	"Europe/Helsinki": "FLE Standard Time", "Europe/Kiev": "FLE Standard Time", "Europe/Kyiv": "FLE Standard Time",
	"Europe/Mariehamn": "FLE Standard Time", "Europe/Riga": "FLE Standard Time", "Europe/Sofia": "FLE Standard Time",
	"Europe/Tallinn": "FLE Standard Time", "Europe/Uzhgorod": "FLE Standard Time",
	"Europe/Vilnius": "FLE Standard Time", "Europe/Zaporozhye": "FLE Standard Time",

	"Asia/Famagusta": "GTB Standard Time", "Asia/Nicosia": "GTB Standard Time", "Europe/Athens": "GTB Standard Time",
	"Europe/Bucharest": "GTB Standard Time", "Europe/Nicosia": "GTB Standard Time",

	"Europe/Chisinau": "E. Europe Standard Time",

	"Europe/Kaliningrad": "Kaliningrad Standard Time",

	"Europe/Minsk": "Belarus Standard Time",

	"Europe/Istanbul": "Turkey Standard Time",

	"Europe/Kirov": "Russian Standard Time", "Europe/Moscow": "Russian Standard Time",
	"Europe/Simferopol": "Russian Standard Time",

	"Europe/Volgograd": "Volgograd Standard Time",

	"Europe/Astrakhan": "Astrakhan Standard Time", "Europe/Ulyanovsk": "Astrakhan Standard Time",

	"Europe/Saratov": "Saratov Standard Time",

	"Europe/Samara": "Russia Time Zone 3",

	"America/New_York": "Eastern Standard Time",

	"America/Chicago": "Central Standard Time",

	"America/Denver": "Mountain Standard Time",

	"America/Los_Angeles": "Pacific Standard Time",

	"America/Phoenix": "US Mountain Standard Time",

	"America/Anchorage": "Alaskan Standard Time",

	"Pacific/Honolulu": "Hawaiian Standard Time",

	"America/Halifax": "Atlantic Standard Time",

	"America/Sao_Paulo": "E. South America Standard Time",

	"Asia/Dubai": "Arabian Standard Time",

	"Asia/Calcutta": "India Standard Time", "Asia/Kolkata": "India Standard Time",

	"Asia/Shanghai": "China Standard Time",

	"Asia/Tokyo": "Tokyo Standard Time",

	"Asia/Singapore": "Singapore Standard Time",

	"Asia/Jerusalem": "Israel Standard Time",

	"Africa/Johannesburg": "South Africa Standard Time",

	"Africa/Cairo": "Egypt Standard Time",

	"Africa/Lagos": "W. Central Africa Standard Time",

	"Australia/Sydney": "AUS Eastern Standard Time",

	"Pacific/Auckland": "New Zealand Standard Time",
}

// windowsToIANA is CLDR's default ("001") IANA zone for each Windows zone above.
var windowsToIANA = map[string]string{
	"UTC":                             "UTC",
	"W. Europe Standard Time":         "Europe/Berlin",
	"Central Europe Standard Time":    "Europe/Budapest",
	"Romance Standard Time":           "Europe/Paris",
	"Central European Standard Time":  "Europe/Warsaw",
	"GMT Standard Time":               "Europe/London",
	"Greenwich Standard Time":         "Atlantic/Reykjavik",
	"Azores Standard Time":            "Atlantic/Azores",
	"FLE Standard Time":               "Europe/Kiev",
	"GTB Standard Time":               "Europe/Bucharest",
	"E. Europe Standard Time":         "Europe/Chisinau",
	"Kaliningrad Standard Time":       "Europe/Kaliningrad",
	"Belarus Standard Time":           "Europe/Minsk",
	"Turkey Standard Time":            "Europe/Istanbul",
	"Russian Standard Time":           "Europe/Moscow",
	"Volgograd Standard Time":         "Europe/Volgograd",
	"Astrakhan Standard Time":         "Europe/Astrakhan",
	"Saratov Standard Time":           "Europe/Saratov",
	"Russia Time Zone 3":              "Europe/Samara",
	"Eastern Standard Time":           "America/New_York",
	"Central Standard Time":           "America/Chicago",
	"Mountain Standard Time":          "America/Denver",
	"Pacific Standard Time":           "America/Los_Angeles",
	"US Mountain Standard Time":       "America/Phoenix",
	"Alaskan Standard Time":           "America/Anchorage",
	"Hawaiian Standard Time":          "Pacific/Honolulu",
	"Atlantic Standard Time":          "America/Halifax",
	"E. South America Standard Time":  "America/Sao_Paulo",
	"Arabian Standard Time":           "Asia/Dubai",
	"India Standard Time":             "Asia/Calcutta",
	"China Standard Time":             "Asia/Shanghai",
	"Tokyo Standard Time":             "Asia/Tokyo",
	"Singapore Standard Time":         "Asia/Singapore",
	"Israel Standard Time":            "Asia/Jerusalem",
	"South Africa Standard Time":      "Africa/Johannesburg",
	"Egypt Standard Time":             "Africa/Cairo",
	"W. Central Africa Standard Time": "Africa/Lagos",
	"AUS Eastern Standard Time":       "Australia/Sydney",
	"New Zealand Standard Time":       "Pacific/Auckland",
}

// WindowsZone returns the Windows zone id for an IANA zone name, and false for a zone the table lacks.
func WindowsZone(iana string) (string, bool) {
	id, ok := ianaToWindows[iana]
	return id, ok
}

// IANAZone returns CLDR's default IANA zone for a Windows zone id, and false for an id the table lacks.
func IANAZone(windows string) (string, bool) {
	iana, ok := windowsToIANA[windows]
	return iana, ok
}
