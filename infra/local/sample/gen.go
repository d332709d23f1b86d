//go:build ignore

// gen writes sample/northwind-awards.xlsx, the workbook the demo drops: three definitions in
// one combined sheet, SES mailbox-simulator recipients, and a few deliberately bad rows.
// Run: go run infra/local/sample/gen.go
package main

import (
	"log"
	"time"

	"github.com/xuri/excelize/v2"
)

func main() {
	f := excelize.NewFile()
	defer f.Close()
	sh := "Awards"
	f.SetSheetName("Sheet1", sh)
	header := []any{"ID", "First Name", "Last Name", "Email", "Issue Date", "Expiration Date/Duration",
		"Score", "Certificate Number", "Level", "Trainer", "Assessment Date", "Member Number", "Profile"}
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 0, 0, 0, 0, time.UTC) }
	sim := func(kind, label string) string { return kind + "+" + label + "@simulator.amazonses.com" }
	rows := [][]any{
		{"web-101", "José", "Álvarez", sim("success", "jose"), d(2026, 11, 2), "", 91, "WF-2026-0001", "Gold"},
		{"web-101", "Zoë", "Brontë", sim("success", "zoe"), d(2026, 11, 2), "", 78, "WF-2026-0002", "Silver"},
		{"web-101", "李", "娜", sim("success", "li.na"), d(2026, 11, 2), "", 66, "WF-2026-0003", "Bronze"},
		{"web-101", "Søren", "Kierkegaard", sim("success", "soren"), d(2026, 11, 2), "3 years", 88, "WF-2026-0004", "Gold"},
		{"web-101", "Amara", "Okafor", sim("bounce", "amara"), d(2026, 11, 2), "", 73, "WF-2026-0005", "Silver"},
		{"web-101", "Liam", "O'Brien", sim("complaint", "liam"), d(2026, 11, 2), "", 69, "WF-2026-0006", "Bronze"},
		{"web-101", "Priya", "Natarajan", sim("ooto", "priya"), d(2026, 11, 2), "", 95, "WF-2026-0007", "Gold"},
		{"web-101", "Maria", "García", "maria.garcia@example", d(2026, 11, 2), "", 81, "WF-2026-0008", "Silver"},
		{"web-101", "Tomás", "Novák", sim("success", "tomas"), d(2026, 11, 2), "", 140, "WF-2026-0009", "Gold"},
		{"web-101", "Hannah", "Schmidt", sim("success", "hannah"), d(2026, 11, 2), "", 84, "WF-2026-0010", "Platinum"},
		{"first-aid", "Kwame", "Mensah", sim("success", "kwame"), d(2026, 10, 28), "3 years", nil, nil, nil, "Dr. Ruth Adeyemi", d(2026, 10, 27)},
		{"first-aid", "Élodie", "Dupont", sim("success", "elodie"), d(2026, 10, 28), "3 years", nil, nil, nil, "Dr. Ruth Adeyemi", d(2026, 10, 27)},
		{"first-aid", "Yusuf", "Demir", sim("success", "yusuf"), d(2026, 10, 28), "", nil, nil, nil, "Dr. Ruth Adeyemi", d(2026, 10, 27)},
		{"first-aid", "Grace", "Kelly", sim("success", "grace"), d(2026, 10, 28), "36 months", nil, nil, nil, "", d(2026, 10, 27)},
		{"first-aid", "Noah", "Fischer", sim("success", "noah"), "31/02/2026", "3 years", nil, nil, nil, "Dr. Ruth Adeyemi", d(2026, 10, 27)},
		{"member-2026", "Aiko", "Tanaka", sim("success", "aiko"), d(2026, 1, 1), d(2026, 12, 31), nil, nil, nil, nil, nil, "M-10231", "https://members.northwind.example/aiko"},
		{"member-2026", "Mateus", "Silva", sim("success", "mateus"), d(2026, 1, 1), d(2026, 12, 31), nil, nil, nil, nil, nil, "M-10232", ""},
		{"member-2026", "Olga", "Ivanova", sim("success", "olga"), d(2026, 1, 1), d(2026, 12, 31), nil, nil, nil, nil, nil, "M-10233", "https://members.northwind.example/olga"},
		{"member-2026", "Olga", "Ivanova", sim("success", "olga"), d(2026, 1, 1), d(2026, 12, 31), nil, nil, nil, nil, nil, "M-10233", ""},
		{"member-2026", "Fatima", "Zahra", sim("success", "fatima"), d(2026, 1, 1), d(2026, 12, 31), nil, nil, nil, nil, nil, "M-10234", ""},
	}
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	if err != nil {
		log.Fatal(err)
	}
	if err := f.SetSheetRow(sh, "A1", &header); err != nil {
		log.Fatal(err)
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := f.SetSheetRow(sh, cell, &r); err != nil {
			log.Fatal(err)
		}
		for c, v := range r {
			if _, ok := v.(time.Time); ok {
				name, _ := excelize.CoordinatesToCellName(c+1, i+2)
				_ = f.SetCellStyle(sh, name, name, dateStyle)
			}
		}
	}
	if err := f.SaveAs("infra/local/sample/northwind-awards.xlsx"); err != nil {
		log.Fatal(err)
	}
}
