// Package certificate renders what a recipient downloads from the credential page: the PDF certificate (with a QR code to the page) and the PNG badge baked with the credential (OB 3.0 §Baking).
package certificate

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/signintech/gopdf"
	"github.com/skip2/go-qrcode"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
)

// View is what a certificate shows; dates are already in words ("2 January 2026").
type View struct {
	Recipient   string
	Achievement string
	Description string
	IssuerName  string
	Issued      string
	Expires     string // "" = never
	Status      string // valid, expired, revoked, not_yet_valid, invalid
	StatusText  string // the sentence the page shows ("Revoked on 3 March 2026.")
	URL         string // the credential page
	ID          string
	Created     time.Time // when the PDF is made (its CreationDate)
}

// page geometry (A4 landscape, points)
const (
	pageW, pageH = 842.0, 595.0
	margin       = 36.0
)

// PDF renders the certificate as a one-page A4 landscape PDF. The text uses the Go fonts
// (embedded, so any Latin, Greek or Cyrillic name prints); the QR code opens the page.
func PDF(v View) ([]byte, error) {
	pdf := &gopdf.GoPdf{}
	pdf.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4Landscape, Unit: gopdf.UnitPT})
	pdf.SetInfo(gopdf.PdfInfo{Title: v.Achievement + " — " + v.Recipient, Author: v.IssuerName, Subject: v.Achievement,
		Creator: "credbatch", CreationDate: v.Created})
	if err := pdf.AddTTFFontData("regular", goregular.TTF); err != nil {
		return nil, fmt.Errorf("certificate font: %w", err)
	}
	if err := pdf.AddTTFFontData("bold", gobold.TTF); err != nil {
		return nil, fmt.Errorf("certificate font: %w", err)
	}
	pdf.AddPage()
	w := &writer{pdf: pdf}
	// Frame.
	pdf.SetLineWidth(3)
	pdf.SetStrokeColor(10, 91, 211)
	pdf.RectFromUpperLeftWithStyle(margin/2, margin/2, pageW-margin, pageH-margin, "D")
	pdf.SetLineWidth(0.8)
	pdf.RectFromUpperLeftWithStyle(margin/2+6, margin/2+6, pageW-margin-12, pageH-margin-12, "D")

	y := 70.0
	y = w.centered("regular", 14, 87, 96, 106, y, strings.ToUpper(v.IssuerName)+" CERTIFIES THAT")
	y = w.centered("bold", 34, 27, 31, 36, y+18, v.Recipient)
	y = w.centered("regular", 14, 87, 96, 106, y+10, "has earned")
	y = w.centered("bold", 26, 10, 91, 211, y+10, v.Achievement)
	if v.Description != "" {
		y = w.wrapped("regular", 12, 27, 31, 36, y+12, v.Description, 3)
	}
	dates := "Issued " + v.Issued
	if v.Expires != "" {
		dates += " · valid until " + v.Expires
	}
	y = w.centered("regular", 13, 27, 31, 36, y+18, dates)
	if v.Status != "valid" && v.StatusText != "" {
		// Revoked, expired or not yet valid: say so where it cannot be missed.
		y = w.centered("bold", 16, 164, 14, 38, y+14, v.StatusText)
	}
	_ = y

	// QR code and the address, bottom left; the credential id bottom right.
	const qrSize = 110.0
	qx, qy := margin+12, pageH-margin-qrSize-14
	q, err := qrcode.New(v.URL, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("certificate QR code: %w", err)
	}
	q.DisableBorder = true
	if err := pdf.ImageFrom(q.Image(330), qx, qy, &gopdf.Rect{W: qrSize, H: qrSize}); err != nil {
		return nil, fmt.Errorf("certificate QR code: %w", err)
	}
	pdf.AddExternalLink(v.URL, qx, qy, qrSize, qrSize)
	tx := qx + qrSize + 14
	w.text("bold", 10, 27, 31, 36, tx, qy+30, "Check this certificate online:")
	w.text("regular", 9, 10, 91, 211, tx, qy+46, v.URL)
	if uw, err := pdf.MeasureTextWidth(v.URL); err == nil {
		pdf.AddExternalLink(v.URL, tx, qy+38, uw, 12)
	}
	w.text("regular", 9, 87, 96, 106, tx, qy+62, "Credential ID "+v.ID)
	w.text("regular", 9, 87, 96, 106, tx, qy+76, "Signed Open Badges 3.0 credential; the page shows its current status.")
	if w.err != nil {
		return nil, fmt.Errorf("certificate text: %w", w.err)
	}
	var buf bytes.Buffer
	if _, err := pdf.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("write certificate: %w", err)
	}
	return buf.Bytes(), nil
}

// writer draws text and keeps the first error.
type writer struct {
	pdf *gopdf.GoPdf
	err error
}

func (w *writer) font(family string, size float64, r, g, b uint8) {
	if w.err == nil {
		w.err = w.pdf.SetFont(family, "", size)
	}
	w.pdf.SetTextColor(r, g, b)
}

func (w *writer) text(family string, size float64, r, g, b uint8, x, y float64, s string) {
	w.font(family, size, r, g, b)
	if w.err != nil {
		return
	}
	w.pdf.SetXY(x, y-size)
	w.err = w.pdf.Text(s)
}

// centered writes one line centred on the page (shrinking the font until it fits) and
// returns the y below it.
func (w *writer) centered(family string, size float64, r, g, b uint8, y float64, s string) float64 {
	w.font(family, size, r, g, b)
	if w.err != nil {
		return y
	}
	width, err := w.pdf.MeasureTextWidth(s)
	for err == nil && width > pageW-2*margin-40 && size > 8 {
		size--
		w.font(family, size, r, g, b)
		width, err = w.pdf.MeasureTextWidth(s)
	}
	if err != nil {
		w.err = err
		return y
	}
	w.pdf.SetXY((pageW-width)/2, y)
	w.err = w.pdf.Cell(&gopdf.Rect{W: width, H: size * 1.3}, s)
	return y + size*1.3
}

// wrapped writes a paragraph centred over at most maxLines lines.
func (w *writer) wrapped(family string, size float64, r, g, b uint8, y float64, s string, maxLines int) float64 {
	w.font(family, size, r, g, b)
	if w.err != nil {
		return y
	}
	lines, err := w.pdf.SplitTextWithWordWrap(s, pageW-2*margin-120)
	if err != nil {
		w.err = err
		return y
	}
	if len(lines) > maxLines {
		lines = append(lines[:maxLines-1], strings.TrimSpace(lines[maxLines-1])+" …")
	}
	for _, l := range lines {
		y = w.centered(family, size, r, g, b, y, strings.TrimSpace(l))
	}
	return y
}
