// GOV.UK Frontend's components, from the copy this server serves (no CDN).
import { initAll } from "../vendor/govuk-frontend.min.js";

document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();
