// Package e2e holds the browser acceptance tests of the local stack (headless Chromium over CDP).
package e2e
