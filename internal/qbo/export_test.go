package qbo

// SetPageSize lets tests page QueryAll over a few rows instead of 1000.
func (c *Client) SetPageSize(n int) { c.pageSize = n }
