-- Reserved for another branch's migration; replaced when it lands.
SELECT 1;
