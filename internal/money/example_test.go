package money_test

import (
	"fmt"

	"books/internal/money"
)

// Spread a 12,000.00 annual contract that starts on 15 January over the months it
// touches, by days. The parts add up to the contract value to the cent.
func ExampleAllocate() {
	days := []int64{17, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 14}
	months := []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Jan"}

	total := money.MustParse("12000.00")
	parts, err := money.Allocate(total, days, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, p := range parts {
		fmt.Printf("%s %2d days %8s\n", months[i], days[i], p)
	}
	fmt.Println("total", money.Sum(parts...))
	// Output:
	// Jan 17 days   558.90
	// Feb 28 days   920.55
	// Mar 31 days  1019.18
	// Apr 30 days   986.30
	// May 31 days  1019.18
	// Jun 30 days   986.30
	// Jul 31 days  1019.18
	// Aug 31 days  1019.18
	// Sep 30 days   986.30
	// Oct 31 days  1019.18
	// Nov 30 days   986.30
	// Dec 31 days  1019.18
	// Jan 14 days   460.27
	// total 12000.00
}

// Split 100.00 three ways: the cent that cannot be divided goes to the first part.
func ExampleAllocate_evenSplit() {
	parts, _ := money.Allocate(money.MustParse("100.00"), []int64{1, 1, 1}, 2)
	fmt.Println(parts)
	// Output: [33.34 33.33 33.33]
}
