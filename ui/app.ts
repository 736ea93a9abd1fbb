// The dashboard's entry: defines every element; the shell is <l4m-app>.
import './elements/l4m-app.js';
import './elements/l4m-documents.js';
import './elements/l4m-builds.js';
import './elements/l4m-users.js';
