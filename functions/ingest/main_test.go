package main

import "testing"

func TestReadEnv(t *testing.T) {
	for k, v := range map[string]string{"TABLE_NAME": "t", "BUCKET_NAME": "b", "STATE_MACHINE_ARN": "arn:sm", "MAIL_FROM": "certs@example.com",
		"PUBLIC_BASE_URL": "https://creds.example.org/", "ADMIN_EMAILS": "a@example.com, b@example.com"} {
		t.Setenv(k, v)
	}
	e, err := readEnv()
	if err != nil {
		t.Fatal(err)
	}
	if e.BaseURL != "https://creds.example.org" || len(e.Admins) != 2 {
		t.Errorf("env = %+v; want the base URL without its slash (the rejected-file email's console link) and two admins", e)
	}
	t.Setenv("MAIL_FROM", "")
	if _, err := readEnv(); err == nil {
		t.Error("readEnv without MAIL_FROM: no error")
	}
}
