// Added by Leoflow Lite to the Airflow web app's page: makes the navigation bar's "IDE" button
// open the web editor in a new tab. Airflow 3.3.2 renders a plugin's top-level external link
// as a <button href=… target=_blank>, which a browser does not follow by itself.
"use strict";

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-testid=nav-sidebar] button[href][target=_blank]");
  if (!button) return;
  event.preventDefault();
  window.open(new URL(button.getAttribute("href"), document.baseURI).href, "_blank", "noopener");
});
