# placeholder, replaced by the tests helper
check:
	@echo "0 passed, 0 failed"
