package certificate

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// BadgeSize is the width and height of a drawn badge, in pixels.
const BadgeSize = 512

// maxImageBytes bounds a definition's own badge image (a data: URL).
const maxImageBytes = 2 << 20

// BadgeImage returns the PNG a badge is baked into: the achievement's own image when it is
// a PNG data: URL (as a definition may give it), else a drawn badge with the achievement's
// and the issuer's names. Remote images are never fetched.
func BadgeImage(imageURL, achievement, issuer string) ([]byte, error) {
	if data, ok := pngDataURL(imageURL); ok {
		return data, nil
	}
	return drawBadge(achievement, issuer)
}

// pngDataURL decodes a data:image/png;base64 URL holding a well-formed PNG.
func pngDataURL(u string) ([]byte, bool) {
	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(u, prefix) || len(u) > maxImageBytes*4/3+len(prefix)+4 {
		return nil, false
	}
	data, err := base64.StdEncoding.DecodeString(u[len(prefix):])
	if err != nil {
		return nil, false
	}
	if _, err := chunks(data); err != nil {
		return nil, false
	}
	if _, err := png.DecodeConfig(bytes.NewReader(data)); err != nil {
		return nil, false
	}
	return data, true
}

var (
	accent = color.RGBA{10, 91, 211, 255}
	white  = color.RGBA{255, 255, 255, 255}
)

// drawBadge draws a round badge: a blue disc with a white ring, the achievement's name in
// the middle and the issuer's below.
func drawBadge(achievement, issuer string) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, BadgeSize, BadgeSize))
	c := float64(BadgeSize) / 2
	for y := range BadgeSize {
		for x := range BadgeSize {
			dx, dy := float64(x)+0.5-c, float64(y)+0.5-c
			d := dx*dx + dy*dy
			switch r := c - 4; {
			case d > r*r:
			case d > (r-10)*(r-10):
				img.SetRGBA(x, y, accent)
			case d > (r-18)*(r-18):
				img.SetRGBA(x, y, white)
			default:
				img.SetRGBA(x, y, accent)
			}
		}
	}
	bold, err := face(gobold.TTF, 40)
	if err != nil {
		return nil, err
	}
	small, err := face(goregular.TTF, 22)
	if err != nil {
		return nil, err
	}
	lines := wrap(bold, achievement, BadgeSize-150, 4)
	lineH := 48
	y := BadgeSize/2 - len(lines)*lineH/2 + 30
	for _, l := range lines {
		drawCentered(img, bold, l, y)
		y += lineH
	}
	if issuer != "" {
		for _, l := range wrap(small, issuer, BadgeSize-200, 1) {
			drawCentered(img, small, l, y+12)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode badge: %w", err)
	}
	return buf.Bytes(), nil
}

func face(ttf []byte, size float64) (font.Face, error) {
	f, err := opentype.Parse(ttf)
	if err != nil {
		return nil, fmt.Errorf("badge font: %w", err)
	}
	fc, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("badge font: %w", err)
	}
	return fc, nil
}

func drawCentered(img *image.RGBA, f font.Face, s string, y int) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(white), Face: f}
	w := d.MeasureString(s).Round()
	d.Dot = fixed.P((BadgeSize-w)/2, y)
	d.DrawString(s)
}

// wrap splits s into at most max lines no wider than width (the last one cut with "…").
func wrap(f font.Face, s string, width, max int) []string {
	var lines []string
	cur := ""
	fits := func(t string) bool { return font.MeasureString(f, t).Round() <= width }
	for _, word := range strings.Fields(s) {
		next := strings.TrimSpace(cur + " " + word)
		if fits(next) || cur == "" {
			cur = next
			continue
		}
		lines = append(lines, cur)
		cur = word
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	if len(lines) > max {
		lines = lines[:max]
		lines[max-1] += " …"
	}
	for i, l := range lines {
		for !fits(l) && len([]rune(l)) > 2 {
			r := []rune(l)
			l = string(r[:len(r)-2]) + "…"
		}
		lines[i] = l
	}
	return lines
}
