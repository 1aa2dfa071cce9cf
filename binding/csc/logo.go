package csc

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
)

// logoPNG is the service logo of info: a 64×64 PNG drawn here (CSC requires JPEG or PNG of
// at most 256×256 pixels), so that no image file has to be shipped.
var logoPNG = func() []byte {
	const n = 64
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	blue := color.NRGBA{0x1f, 0x6f, 0xeb, 0xff}
	white := color.NRGBA{0xff, 0xff, 0xff, 0xff}
	for y := range n {
		for x := range n {
			c := blue
			// a white diagonal stroke (the pen) and a base line (the signature line)
			if d := x - (n - 1 - y); d >= -3 && d <= 3 && x > 14 && x < 50 || y >= 48 && y <= 51 && x >= 10 && x <= 54 {
				c = white
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}()
