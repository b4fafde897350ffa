"""Foreign cooperation (对外合作): projects with their secrecy review; provisions of material to foreign parties."""
