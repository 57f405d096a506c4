// Command desktop is a shared task list on the Outpost SDK, a windowed
// Gio app.
package main
