// Package bombtest measures the memory of reading a PDF whose small compressed content
// expands to tens of megabytes of text. It holds only that test, in its own package, so
// no other test shares the process's heap while it is measured.
package bombtest
