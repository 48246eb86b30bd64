// Package jobs will hold the River job runner: setup on both databases, the job kinds and
// their workers, and periodic schedules. Work that calls other systems (QuickBooks, Stripe,
// email) is enqueued here in the same transaction as the business write that implies it.
package jobs
